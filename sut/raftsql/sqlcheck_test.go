package raftsql

import (
	"strings"
	"testing"
)

func TestCheckDeterministic(t *testing.T) {
	tests := []struct {
		sql  string
		want string // "" for accepted, else a substring of the error
	}{
		// accepted
		{`INSERT INTO kv (k, v) VALUES (?, ?)`, ""},
		{`UPDATE kv SET v = v + 1 WHERE k = 'x';`, ""},
		{`CREATE TABLE acks (id INTEGER PRIMARY KEY, tx_id TEXT, at TEXT DEFAULT '2024-01-01')`, ""},
		{`INSERT INTO t VALUES (datetime('2024-01-01 10:00:00', '+1 day'))`, ""},
		{`INSERT INTO t VALUES (strftime('%s', '2024-01-01'))`, ""},
		{`INSERT INTO t VALUES (date(?))`, ""},
		{`INSERT INTO t VALUES (julianday('2024-01-01'), unixepoch('2024-01-01', 'subsec'))`, ""},
		{`INSERT INTO notes VALUES ('call random() now')`, ""},
		{`INSERT INTO notes VALUES ('now')`, ""}, // no date function: just text
		{`-- random()` + "\n" + `INSERT INTO t VALUES (1) /* datetime('now') */`, ""},
		{`INSERT INTO changes (a) VALUES (1)`, ""},        // a table named like a function
		{`CREATE TABLE random (x)`, ""},                   // likewise
		{`CREATE INDEX i ON changes (a)`, ""},             // likewise
		{`SELECT total FROM t WHERE "changes" = 1`, ""},   // a column, not a call
		{`INSERT INTO main.random(x) VALUES (1)`, ""},     // schema-qualified table
		{`INSERT INTO t VALUES (x'72616e646f6d28)')`, ""}, // blob literal
		{`INSERT INTO t SELECT * FROM s ORDER BY id LIMIT 3`, ""},
		{`CREATE TRIGGER tr AFTER INSERT ON t WHEN CASE WHEN new.x > 0 THEN 1 END BEGIN
			INSERT INTO log VALUES (new.x, CASE new.x WHEN 1 THEN 'one' ELSE 'many' END);
			UPDATE n SET c = c + 1;
		END;`, ""},
		{`CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES (random()); END`, "random()"},
		{`CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END; DELETE FROM t`, "more than one statement"},

		// rejected: clock, randomness, connection state
		{`INSERT INTO t VALUES (random())`, "non-deterministic function random()"},
		{`INSERT INTO t VALUES (RANDOM ())`, "non-deterministic function random()"},
		{`INSERT INTO t VALUES ("random"())`, "non-deterministic function random()"},
		{`INSERT INTO t VALUES (hex(randomblob(16)))`, "randomblob()"},
		{`UPDATE t SET n = changes()`, "changes()"},
		{`INSERT INTO t VALUES (last_insert_rowid())`, "last_insert_rowid()"},
		{`INSERT INTO t VALUES (total_changes())`, "total_changes()"},
		{`INSERT INTO t VALUES (sqlite_version())`, "sqlite_version()"},
		{`SELECT load_extension('x')`, "load_extension()"},
		{`INSERT INTO t VALUES (datetime())`, "datetime() with 0 argument(s) reads the replica's clock"},
		{`INSERT INTO t VALUES (date())`, "date() with 0"},
		{`INSERT INTO t VALUES (unixepoch())`, "unixepoch() with 0"},
		{`INSERT INTO t VALUES (strftime('%Y'))`, "strftime() with 1"},
		{`INSERT INTO t VALUES (julianday('now'))`, "'now'"},
		{`INSERT INTO t VALUES (strftime('%s', 'NOW'))`, "'NOW'"},
		{`INSERT INTO t VALUES (datetime('2024-01-01', 'localtime'))`, "'localtime'"},
		{`INSERT INTO t VALUES (time(x, 'utc'))`, "'utc'"},
		{`INSERT INTO t VALUES (CURRENT_TIMESTAMP)`, "CURRENT_TIMESTAMP reads the replica's clock"},
		{`CREATE TABLE t (at TEXT DEFAULT current_date)`, "CURRENT_DATE"},
		{`INSERT INTO t VALUES (current_time)`, "CURRENT_TIME"},
		{`CREATE TABLE t (id, r DEFAULT (random()))`, "random()"},

		// rejected: outside the command's transaction or the replicated db
		{`BEGIN`, "BEGIN is not allowed"},
		{`commit`, "COMMIT is not allowed"},
		{`END TRANSACTION`, "END is not allowed"},
		{`ROLLBACK TO sp`, "ROLLBACK is not allowed"},
		{`SAVEPOINT x`, "SAVEPOINT is not allowed"},
		{`RELEASE x`, "RELEASE is not allowed"},
		{`ATTACH 'other.db' AS o`, "ATTACH is not allowed"},
		{`PRAGMA foreign_keys = OFF`, "PRAGMA is not allowed"},
		{`VACUUM`, "VACUUM is not allowed"},
		{`CREATE TEMP TABLE x (y)`, "CREATE TEMP is not allowed"},
		{`CREATE TEMPORARY VIEW v AS SELECT 1`, "CREATE TEMP is not allowed"},
		{`CREATE TABLE temp.x (y)`, "schema temp is not replicated"},
		{`DELETE FROM _chaoscheck_requests`, "_chaoscheck_requests is reserved"},
		{`UPDATE "_CHAOSCHECK_APPLIED" SET idx = 0`, "reserved"},

		// rejected: shape
		{``, "empty statement"},
		{`  -- only a comment`, "empty statement"},
		{`;`, "empty statement"},
		{`INSERT INTO t VALUES (1); DELETE FROM t`, "more than one statement"},
		{`INSERT INTO t VALUES ('unterminated)`, "unterminated '-quoted literal"},
		{`SELECT [unterminated`, "unterminated [identifier]"},
	}
	for _, tt := range tests {
		err := CheckDeterministic(tt.sql)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckDeterministic(%q) = %v, want accepted", tt.sql, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckDeterministic(%q) = %v, want an error containing %q", tt.sql, err, tt.want)
		}
	}
}

func TestCheckStmtLooksAtArgumentsOfDateFunctions(t *testing.T) {
	tests := []struct {
		name string
		stmt Stmt
		want string
	}{
		{"explicit time", Stmt{SQL: `INSERT INTO t VALUES (datetime(?))`, Args: []any{"2024-01-01"}}, ""},
		{"now through a parameter", Stmt{SQL: `INSERT INTO t VALUES (datetime(?))`, Args: []any{" Now "}}, `argument 0 = " Now "`},
		{"localtime through a parameter", Stmt{SQL: `INSERT INTO t VALUES (date(?, ?))`, Args: []any{"2024-01-01", "localtime"}}, "argument 1"},
		{"'now' as data without a date function", Stmt{SQL: `INSERT INTO t VALUES (?)`, Args: []any{"now"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckStmt(tt.stmt)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("CheckStmt = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestIsReadOnly(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{`SELECT * FROM kv WHERE k = ?`, true},
		{`  select 1;`, true},
		{`VALUES (1), (2)`, true},
		{`EXPLAIN QUERY PLAN DELETE FROM kv`, true},
		{`WITH x AS (SELECT 1) SELECT * FROM x`, true},
		{`WITH x AS (SELECT 'delete') SELECT * FROM x`, true},
		{`WITH x AS (SELECT 'ab' AS s) SELECT replace(s, 'a', 'b') FROM x`, true},
		{`WITH x AS (SELECT 1) INSERT INTO kv SELECT * FROM x`, false},
		{`WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c) DELETE FROM kv WHERE k IN c`, false},
		{`INSERT INTO kv VALUES (1)`, false},
		{`REPLACE INTO kv VALUES (1)`, false},
		{`PRAGMA table_info(kv)`, false},
		{`SELECT 1; DELETE FROM kv`, false},
		{``, false},
		{`SELECT 'unterminated`, false},
	}
	for _, tt := range tests {
		if got := IsReadOnly(tt.sql); got != tt.want {
			t.Errorf("IsReadOnly(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}

func FuzzCheckDeterministic(f *testing.F) {
	for _, s := range []string{
		`INSERT INTO t VALUES (datetime('now'))`, `SELECT "a""b", [c], 'd''e' -- x`,
		`/* unterminated`, `x'00'`, `?1 :a @b $c`, `1.5e+3`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		_ = CheckDeterministic(sql) // must not panic
		_ = IsReadOnly(sql)
	})
}
