package history

// Type is an op's place in its lifecycle.
type Type string

// The four op types, as Jepsen names them.
const (
	Invoke Type = "invoke" // the client is about to call the system
	OK     Type = "ok"     // the operation took effect
	Fail   Type = "fail"   // the operation certainly did not take effect
	Info   Type = "info"   // unknown: it may take effect at any point up to the end
)

// NemesisProcess is the process number of the nemesis (Jepsen's :nemesis).
const NemesisProcess = -1

// Op is one line of a history.
//
// Value holds whatever the f needs, decoded the way encoding/json decodes
// into an interface with UseNumber: nil, bool, json.Number, string, []any,
// map[string]any. Every reader normalizes to these shapes (EDN integers
// become json.Number, keywords become strings without the colon), so a
// checker handles one representation whatever the source format was.
type Op struct {
	Index   int64  `json:"index"`
	Time    int64  `json:"time"` // nanoseconds since the run began, monotonic
	Type    Type   `json:"type"`
	Process int64  `json:"process"`
	F       string `json:"f"`
	Key     string `json:"key,omitempty"` // numeric keys in the input become their decimal text
	Value   any    `json:"value,omitempty"`
	TxID    string `json:"tx_id,omitempty"`
	Node    string `json:"node,omitempty"`
	Error   string `json:"error,omitempty"`
}

// History is a whole record, in index order.
type History []Op

// IsInvoke, IsOK, IsFail and IsInfo test an op's type.
func (o Op) IsInvoke() bool { return o.Type == Invoke }
func (o Op) IsOK() bool     { return o.Type == OK }
func (o Op) IsFail() bool   { return o.Type == Fail }
func (o Op) IsInfo() bool   { return o.Type == Info }

// IsClient reports whether the op came from a client process rather than
// the nemesis.
func (o Op) IsClient() bool { return o.Process >= 0 }
