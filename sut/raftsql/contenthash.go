// contenthash.go: the hash of a state machine's content that `verify`
// compares across replicas.

package raftsql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"strings"
)

// ContentHash hashes the schema and content of the user's tables (the
// _chaoscheck_ bookkeeping excluded), read in one transaction, so `verify`
// can compare replicas: equal content gives equal hashes. Rows are hashed in
// rowid (or primary key) order with their rowids, since rowids decide future
// inserts; values are hashed with their SQLite type, so 1 and 1.0 and '1'
// differ.
func (m *StateMachine) ContentHash(ctx context.Context) (string, error) {
	m.poolMu.RLock()
	defer m.poolMu.RUnlock()
	if m.closed {
		return "", errStateMachineClosed
	}
	tx, err := m.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return "", fmt.Errorf("content hash: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return contentHash(ctx, tx)
}

// contentHash is the hash of ContentHash, read in tx: the one definition
// that both the running replica (ContentHash) and `verify` reading a
// replica's files (InspectStateMachine) use.
func contentHash(ctx context.Context, tx *sql.Tx) (string, error) {
	h := sha256.New()
	if err := hashSchema(ctx, tx, h); err != nil {
		return "", fmt.Errorf("content hash: %w", err)
	}
	tables, err := userTables(ctx, tx)
	if err != nil {
		return "", fmt.Errorf("content hash: %w", err)
	}
	for _, t := range tables {
		if err := hashTable(ctx, tx, h, t); err != nil {
			return "", fmt.Errorf("content hash: table %s: %w", t.name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func isBookkeeping(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), "_chaoscheck_")
}

func hashSchema(ctx context.Context, tx *sql.Tx, h hash.Hash) error {
	rows, err := tx.QueryContext(ctx, `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var typ, name, tbl, text string
		if err := rows.Scan(&typ, &name, &tbl, &text); err != nil {
			return err
		}
		if isBookkeeping(name) || isBookkeeping(tbl) {
			continue
		}
		for _, s := range []string{"schema", typ, name, tbl, text} {
			hashValue(h, s)
		}
	}
	return rows.Err()
}

type userTable struct {
	name     string
	noRowid  bool
	cols, pk []string
}

func userTables(ctx context.Context, tx *sql.Tx) ([]userTable, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, wr FROM pragma_table_list
		WHERE schema = 'main' AND type IN ('table', 'shadow') ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var tables []userTable
	for rows.Next() {
		var t userTable
		if err := rows.Scan(&t.name, &t.noRowid); err != nil {
			rows.Close()
			return nil, err
		}
		if isBookkeeping(t.name) || t.name == "sqlite_schema" || t.name == "sqlite_master" {
			continue
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range tables {
		cr, err := tx.QueryContext(ctx, `SELECT name, pk FROM pragma_table_info(?) ORDER BY cid`, tables[i].name)
		if err != nil {
			return nil, err
		}
		type pkCol struct {
			name string
			pos  int
		}
		var pks []pkCol
		for cr.Next() {
			var name string
			var pk int
			if err := cr.Scan(&name, &pk); err != nil {
				cr.Close()
				return nil, err
			}
			tables[i].cols = append(tables[i].cols, name)
			if pk > 0 {
				pks = append(pks, pkCol{name, pk})
			}
		}
		cr.Close()
		if err := cr.Err(); err != nil {
			return nil, err
		}
		for pos := 1; pos <= len(pks); pos++ {
			for _, p := range pks {
				if p.pos == pos {
					tables[i].pk = append(tables[i].pk, p.name)
				}
			}
		}
	}
	return tables, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func hashTable(ctx context.Context, tx *sql.Tx, h hash.Hash, t userTable) error {
	// Unary + keeps each value and its type but drops the column's declared
	// type, so the driver does not turn DATETIME text into time.Time.
	var sel []string
	order := "_rowid_"
	if !t.noRowid {
		sel = append(sel, "_rowid_")
	} else {
		var pk []string
		for _, c := range t.pk {
			pk = append(pk, quoteIdent(c))
		}
		order = strings.Join(pk, ", ")
	}
	for _, c := range t.cols {
		sel = append(sel, "+"+quoteIdent(c))
	}
	q := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(sel, ", "), quoteIdent(t.name), order)
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	hashValue(h, "table")
	hashValue(h, t.name)
	vals := make([]any, len(sel))
	ptrs := make([]any, len(sel))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		h.Write([]byte{'r'})
		for _, v := range vals {
			hashValue(h, v)
		}
	}
	return rows.Err()
}

// hashValue writes v with a type tag and a length, so no two different
// sequences of values hash the same stream.
func hashValue(h hash.Hash, v any) {
	var n [8]byte
	writeBytes := func(tag byte, b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write([]byte{tag})
		h.Write(n[:])
		h.Write(b)
	}
	switch v := v.(type) {
	case nil:
		h.Write([]byte{'n'})
	case int64:
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write([]byte{'i'})
		h.Write(n[:])
	case float64:
		binary.BigEndian.PutUint64(n[:], math.Float64bits(v))
		h.Write([]byte{'f'})
		h.Write(n[:])
	case string:
		writeBytes('s', []byte(v))
	case []byte:
		writeBytes('b', v)
	default:
		writeBytes('x', fmt.Appendf(nil, "%T %v", v, v))
	}
}
