"""The ingest: receiver, batch stage, msgCnt continuity, signer rules and the Parquet store."""
