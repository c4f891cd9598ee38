package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/workload"
)

// bank: Jepsen's bank in one database. Accounts are named as the
// workload's transfers name them ("p1/a1"); a transfer locks both rows
// in name order (no deadlock between two transfers), refuses an
// overdraft, moves the amount and records one effect row per participant
// (account prefix) it touched, carrying its tx_id: the final-read counts
// them per participant as the txid checker expects of a 2PC system.
var bank = sqlWorkload{
	tables: []string{"cc_accounts", "cc_effects"},
	ddl: []string{
		"CREATE TABLE cc_accounts (name text PRIMARY KEY, balance bigint NOT NULL)",
		"CREATE TABLE cc_effects (tx_id text NOT NULL, participant text NOT NULL)",
	},
	seed: func(ctx context.Context, tx pgx.Tx, o workload.Options) error {
		_, err := tx.Exec(ctx, "INSERT INTO cc_accounts (name, balance) SELECT unnest($1::text[]), $2",
			workload.BankAccounts(o), o.InitialBalance)
		return err
	},
	invoke: func(ctx context.Context, c *Client, op history.Op) history.Op {
		switch op.F {
		case "transfer":
			return c.transfer(ctx, op)
		case "read-balances":
			return c.txn(ctx, op, func(tx pgx.Tx) (any, error) {
				rows, _ := tx.Query(ctx, "SELECT name, balance FROM cc_accounts")
				out := map[string]any{}
				var name string
				var bal int64
				_, err := pgx.ForEachRow(rows, []any{&name, &bal}, func() error { out[name] = bal; return nil })
				return out, err
			})
		case "final-read":
			return c.txn(ctx, op, func(tx pgx.Tx) (any, error) {
				out := map[string]any{}
				for _, a := range workload.BankAccounts(c.d.opts) {
					out[participantOf(a)] = map[string]any{}
				}
				rows, _ := tx.Query(ctx, "SELECT participant, tx_id, count(*) FROM cc_effects GROUP BY participant, tx_id")
				var p, id string
				var n int64
				_, err := pgx.ForEachRow(rows, []any{&p, &id, &n}, func() error {
					m, ok := out[p].(map[string]any)
					if !ok {
						m = map[string]any{}
						out[p] = m
					}
					m[id] = n
					return nil
				})
				return out, err
			})
		}
		return unsupported(op)
	},
}

func (c *Client) transfer(ctx context.Context, op history.Op) history.Op {
	v, _ := op.Value.(map[string]any)
	from, _ := v["from"].(string)
	to, _ := v["to"].(string)
	amount, ok := asInt(v["amount"])
	if from == "" || to == "" || from == to || !ok || amount <= 0 || op.TxID == "" {
		return badValue(op)
	}
	return c.txn(ctx, op, func(tx pgx.Tx) (any, error) {
		rows, _ := tx.Query(ctx, "SELECT name, balance FROM cc_accounts WHERE name = ANY($1) ORDER BY name FOR UPDATE", []string{from, to})
		bal := map[string]int64{}
		var name string
		var b int64
		if _, err := pgx.ForEachRow(rows, []any{&name, &b}, func() error { bal[name] = b; return nil }); err != nil {
			return nil, err
		}
		for _, a := range []string{from, to} {
			if _, ok := bal[a]; !ok {
				return nil, definiteFailure{"no account " + a}
			}
		}
		if bal[from] < amount {
			return nil, definiteFailure{fmt.Sprintf("aborted: insufficient funds in %s: balance %d, amount %d", from, bal[from], amount)}
		}
		for _, q := range []struct {
			name  string
			delta int64
		}{{from, -amount}, {to, amount}} {
			if _, err := tx.Exec(ctx, "UPDATE cc_accounts SET balance = balance + $2 WHERE name = $1", q.name, q.delta); err != nil {
				return nil, err
			}
		}
		parts := []string{participantOf(from)}
		if p := participantOf(to); p != parts[0] {
			parts = append(parts, p)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO cc_effects (tx_id, participant) SELECT $1, unnest($2::text[])", op.TxID, parts); err != nil {
			return nil, err
		}
		return op.Value, nil
	})
}

// participantOf is an account's participant: "p1" of "p1/a3", the whole
// name when it has no prefix.
func participantOf(account string) string {
	p, _, _ := strings.Cut(account, "/")
	return p
}
