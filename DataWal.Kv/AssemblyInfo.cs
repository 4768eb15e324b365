// DataWal.Kv: KvStore, compaction and JSONL export live in this assembly.
