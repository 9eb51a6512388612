// Interop checks for the witness tests, built against Debian's golang.org/x/mod (GOPATH mode).
//
//	interop open LOG_VKEY < note          note.Open with the log key alone; prints the text
//	interop cosig WITNESS_VKEY < note     verifies the witness's cosignature/v1 line in Go
//	interop proofs N M1,N1 M2,N2 ...      JSON: tlog roots for every size, ProveTree proofs
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func openNote(vkey string, msg []byte) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("open: %v", err)
	}
	fmt.Printf("%s", n.Text)
	fmt.Fprintf(os.Stderr, "verified %d unverified %d\n", len(n.Sigs), len(n.UnverifiedSigs))
}

// checkCosig verifies a tlog-cosignature v1 line, written here from the C2SP text.
func checkCosig(vkey string, msg []byte) {
	parts := strings.SplitN(vkey, "+", 3)
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		fail("bad witness vkey")
	}
	h := sha256.Sum256(append([]byte(parts[0]+"\n\x04"), raw[1:]...))
	if fmt.Sprintf("%08x", binary.BigEndian.Uint32(h[:4])) != parts[1] {
		fail("key ID mismatch")
	}
	i := bytes.LastIndex(msg, []byte("\n\n"))
	text := msg[:i+1]
	for _, line := range strings.Split(strings.TrimSuffix(string(msg[i+2:]), "\n"), "\n") {
		prefix := "\u2014 " + parts[0] + " "
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(line[len(prefix):])
		if err != nil || len(sig) != 76 || fmt.Sprintf("%x", sig[:4]) != parts[1] {
			continue
		}
		ts := binary.BigEndian.Uint64(sig[4:12])
		m := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", ts)), text...)
		if !ed25519.Verify(ed25519.PublicKey(raw[1:]), m, sig[12:]) {
			fail("cosignature does not verify")
		}
		fmt.Println(ts)
		return
	}
	fail("no cosignature line for %s", parts[0])
}

type hashes map[int64]tlog.Hash

func (h hashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = h[x]
	}
	return out, nil
}

func proofs(n int64, pairs []string) {
	h := hashes{}
	roots := map[string]string{}
	for i := int64(0); i < n; i++ {
		data := []byte(fmt.Sprintf("{\"e\":%d}", i))
		more, err := tlog.StoredHashes(i, data, h)
		if err != nil {
			fail("%v", err)
		}
		for j, x := range more {
			h[tlog.StoredHashIndex(0, i)+int64(j)] = x
		}
		root, err := tlog.TreeHash(i+1, h)
		if err != nil {
			fail("%v", err)
		}
		roots[strconv.FormatInt(i+1, 10)] = base64.StdEncoding.EncodeToString(root[:])
	}
	out := map[string][]string{}
	for _, p := range pairs {
		var m, t int64
		fmt.Sscanf(p, "%d,%d", &m, &t)
		proof, err := tlog.ProveTree(t, m, h)
		if err != nil {
			fail("%v", err)
		}
		for _, x := range proof {
			out[p] = append(out[p], base64.StdEncoding.EncodeToString(x[:]))
		}
		if out[p] == nil {
			out[p] = []string{}
		}
	}
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"roots": roots, "proofs": out})
}

func main() {
	switch os.Args[1] {
	case "open", "cosig":
		msg, _ := io.ReadAll(os.Stdin)
		if os.Args[1] == "open" {
			openNote(os.Args[2], msg)
		} else {
			checkCosig(os.Args[2], msg)
		}
	case "proofs":
		n, _ := strconv.ParseInt(os.Args[2], 10, 64)
		proofs(n, os.Args[3:])
	}
}
