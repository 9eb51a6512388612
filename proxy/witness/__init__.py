"""A C2SP tlog-witness for the audit log (SPEC §10): cosigns a checkpoint only if it extends
the last one this witness cosigned for that log.

cosignature: the tlog-cosignature v1 format (pure); signer: the witness key; request: parsing
an add-checkpoint body; state: the SQLite memory; config: ``[witness]``; server: the HTTP app.
"""
