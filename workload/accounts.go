package workload

import (
	"fmt"
	"strings"
)

// participantNames returns "p1" … "pN".
func participantNames(n int) []string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("p%d", i+1)
	}
	return ps
}

// accountNames spreads n accounts round-robin over the participants:
// p1/a1, p2/a1, p1/a2, p2/a2 … so a random transfer often crosses
// participants and needs both.
func accountNames(n int, participants []string) []string {
	accts := make([]string, n)
	for i := range accts {
		accts[i] = fmt.Sprintf("%s/a%d", participants[i%len(participants)], i/len(participants)+1)
	}
	return accts
}

// splitAccount splits "p1/a3" into participant and account.
func splitAccount(a string) (participant, account string) {
	p, acct, ok := strings.Cut(a, "/")
	if !ok {
		return "", a
	}
	return p, acct
}
