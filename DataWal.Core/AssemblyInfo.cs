// DataWal.Core: the wire format, segments, lock, RecordLog and RecordLogReader live in this assembly.
