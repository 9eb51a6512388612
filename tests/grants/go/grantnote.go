// Grant notes signed and opened by Go's golang.org/x/mod/sumdb/note (GOPATH mode, Debian).
//
//	grantnote sign SKEY [SKEY...] < text     note.Sign with each signer key; prints the note
//	grantnote open VKEY [VKEY...] < note     note.Open with those verifier keys; prints the text
package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: grantnote sign SKEY... | open VKEY...")
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("stdin: %v", err)
	}
	switch os.Args[1] {
	case "sign":
		var signers []note.Signer
		for _, skey := range os.Args[2:] {
			s, err := note.NewSigner(skey)
			if err != nil {
				fail("signer: %v", err)
			}
			signers = append(signers, s)
		}
		msg, err := note.Sign(&note.Note{Text: string(in)}, signers...)
		if err != nil {
			fail("sign: %v", err)
		}
		os.Stdout.Write(msg)
	case "open":
		var verifiers []note.Verifier
		for _, vkey := range os.Args[2:] {
			v, err := note.NewVerifier(vkey)
			if err != nil {
				fail("verifier: %v", err)
			}
			verifiers = append(verifiers, v)
		}
		n, err := note.Open(in, note.VerifierList(verifiers...))
		if err != nil {
			fail("open: %v", err)
		}
		fmt.Print(n.Text)
		fmt.Fprintf(os.Stderr, "verified %d\n", len(n.Sigs))
	default:
		fail("unknown command %q", os.Args[1])
	}
}
