package workload

// AccountNames lists the bank accounts o asks for, as transfers name
// them: o.Accounts accounts spread over o.Participants participants,
// "p1/a1", "p2/a1" … A target that keeps every account in one database
// creates exactly these.
func AccountNames(o Options) []string {
	o = o.WithDefaults()
	return accountNames(o.Accounts, participantNames(o.Participants))
}
