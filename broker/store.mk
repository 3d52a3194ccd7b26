# The SQLite store and the hash-chained audit log.
