package workload

import (
	"fmt"
	"strings"
)

// ParticipantNames returns "p1" … "pN".
func ParticipantNames(n int) []string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("p%d", i+1)
	}
	return ps
}

// BankAccounts names the accounts of the bank and retry workloads under
// opts: opts.Accounts of them spread round-robin over opts.Participants
// participants, p1/a1, p2/a1, p1/a2, p2/a2 … so a random transfer often
// crosses participants and needs both.
func BankAccounts(opts Options) []string {
	opts = opts.WithDefaults()
	ps := ParticipantNames(opts.Participants)
	accts := make([]string, opts.Accounts)
	for i := range accts {
		accts[i] = fmt.Sprintf("%s/a%d", ps[i%len(ps)], i/len(ps)+1)
	}
	return accts
}

// SplitAccount splits "p1/a3" into participant and account.
func SplitAccount(a string) (participant, account string) {
	p, acct, ok := strings.Cut(a, "/")
	if !ok {
		return "", a
	}
	return p, acct
}
