/* The airlock's tables, applied as one migration by broker/migrations.c.
 *
 * airlock_requests holds one row per request and its state; every change
 * of state is written with its audit record in one transaction.
 * airlock_files keeps, per file, the SHA-256 of the bytes copied into
 * quarantine at submission and the checker's verdict. airlock_votes keeps
 * one vote per reviewer, file and round. airlock_links keeps only the
 * SHA-256 of each download token. airlock_notifications is the mail queue
 * with its retries, and airlock_people remembers the directory groups of
 * users who used the airlock, to find checkers named by group. */
const char airlock_migration_sql[] =
    "CREATE TABLE airlock_requests ("
    "  id TEXT PRIMARY KEY,"
    "  project TEXT NOT NULL,"
    "  direction TEXT NOT NULL CHECK (direction IN ('export', 'import')),"
    "  requester TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('draft', 'submitted',"
    "    'checking', 'in_review', 'changes_requested', 'approved',"
    "    'released', 'rejected', 'blocked', 'revoked', 'withdrawn',"
    "    'failed')),"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  round INTEGER NOT NULL DEFAULT 1,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX airlock_requests_state ON airlock_requests (state);"
    "CREATE INDEX airlock_requests_requester ON airlock_requests"
    "  (requester, created_ms);"
    "CREATE TABLE airlock_files ("
    "  request_id TEXT NOT NULL REFERENCES airlock_requests (id),"
    "  position INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size_bytes INTEGER NOT NULL,"
    "  description TEXT NOT NULL,"
    "  disclosure_controls TEXT NOT NULL,"
    "  check_result TEXT NOT NULL DEFAULT 'pending' CHECK (check_result IN"
    "    ('pending', 'pass', 'review', 'fail', 'error')),"
    "  check_reason TEXT NOT NULL DEFAULT '',"
    "  verdict TEXT,"
    "  PRIMARY KEY (request_id, position),"
    "  UNIQUE (request_id, sha256)"
    ");"
    "CREATE TABLE airlock_votes ("
    "  request_id TEXT NOT NULL REFERENCES airlock_requests (id),"
    "  round INTEGER NOT NULL,"
    "  reviewer TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  vote TEXT NOT NULL CHECK (vote IN ('approve', 'changes', 'reject')),"
    "  comment TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (request_id, round, reviewer, sha256)"
    ");"
    "CREATE TABLE airlock_links ("
    "  token_hash TEXT PRIMARY KEY,"
    "  request_id TEXT NOT NULL REFERENCES airlock_requests (id),"
    "  sha256 TEXT NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  used_ms INTEGER"
    ");"
    "CREATE TABLE airlock_notifications ("
    "  id INTEGER PRIMARY KEY,"
    "  request_id TEXT NOT NULL REFERENCES airlock_requests (id),"
    "  recipient TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'sent')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_ms INTEGER NOT NULL,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  sent_ms INTEGER,"
    "  UNIQUE (request_id, recipient, subject)"
    ");"
    "CREATE INDEX airlock_notifications_due ON airlock_notifications"
    "  (state, next_attempt_ms);"
    "CREATE TABLE airlock_people ("
    "  username TEXT PRIMARY KEY,"
    "  groups TEXT NOT NULL,"
    "  seen_ms INTEGER NOT NULL"
    ");";

/* Imports and resubmissions. airlock_uploads holds files uploaded through
 * the portal and already in quarantine, until a request takes them or
 * they expire. airlock_previous_files keeps the files of the rounds before
 * a resubmission, with their check results, for the review history. */
const char airlock_migration_imports_sql[] =
    "CREATE TABLE airlock_uploads ("
    "  id TEXT PRIMARY KEY,"
    "  project TEXT NOT NULL,"
    "  owner TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size_bytes INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX airlock_uploads_expiry ON airlock_uploads (expires_ms);"
    "CREATE TABLE airlock_previous_files ("
    "  request_id TEXT NOT NULL REFERENCES airlock_requests (id),"
    "  round INTEGER NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size_bytes INTEGER NOT NULL,"
    "  description TEXT NOT NULL,"
    "  disclosure_controls TEXT NOT NULL,"
    "  check_result TEXT NOT NULL,"
    "  check_reason TEXT NOT NULL,"
    "  verdict TEXT,"
    "  PRIMARY KEY (request_id, round, position)"
    ");";

/* The members of the groups that a policy names as output checkers, as
 * the directory listed them at the last refresh, so that mail reaches
 * checkers who never used the portal. */
const char airlock_migration_directory_sql[] =
    "CREATE TABLE airlock_directory_members ("
    "  group_dn TEXT NOT NULL,"
    "  username TEXT NOT NULL,"
    "  email TEXT,"
    "  refreshed_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (group_dn, username)"
    ");";
