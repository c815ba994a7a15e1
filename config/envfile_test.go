package config

import (
	"reflect"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	environ := map[string]string{"HOME": "/home/app", "PORT": "5000"}
	lookup := func(k string) (string, bool) { v, ok := environ[k]; return v, ok }
	tests := []struct {
		name    string
		in      string
		want    []string
		errLine int
		errKey  string
		errMsg  string
	}{
		{name: "basic", in: "A=1\nB=two words\n", want: []string{"A=1", "B=two words"}},
		{name: "export comments blanks CRLF BOM",
			in:   "\ufeff# top\r\n\r\nexport A=1\r\n  export\tB = 2  \n   # indented\n",
			want: []string{"A=1", "B=2"}},
		{name: "unquoted trimmed and inline comment",
			in:   "A=  value  # comment\nB=a#b\nC=#not-a-comment\nD=\nE= # only comment\n",
			want: []string{"A=value", "B=a#b", "C=#not-a-comment", "D=", "E="}},
		{name: "single quotes literal", in: `A='$HOME \n ${PORT} "q"' # c` + "\n", want: []string{`A=$HOME \n ${PORT} "q"`}},
		{name: "double quotes escapes",
			in:   `A="line1\nline2\t\"q\" back\\slash \$HOME C:\dir"` + "\n",
			want: []string{"A=line1\nline2\t\"q\" back\\slash $HOME C:\\dir"}},
		{name: "expansion from file then environment",
			in:   "PORT=6000\nURL=\"http://${HOST}:$PORT/$HOME\"\nRAW=$PORT-${PORT}\n",
			want: []string{"PORT=6000", "URL=http://:6000//home/app", "RAW=6000-6000"}},
		{name: "environment used when not in file", in: "P=$PORT\n", want: []string{"P=5000"}},
		{name: "lone dollar kept", in: "A=\"cost $ and $\"\nB=$\n", want: []string{"A=cost $ and $", "B=$"}},
		{name: "multi-line quoted values",
			in:   "KEY=\"-----BEGIN\nabc\n-----END\"\nS='a\nb'\nNEXT=1\n",
			want: []string{"KEY=-----BEGIN\nabc\n-----END", "S=a\nb", "NEXT=1"}},
		{name: "duplicate keeps first place last value", in: "A=1\nB=2\nA=3\n", want: []string{"A=3", "B=2"}},
		{name: "dotted key", in: "spring.profile=prod\n", want: []string{"spring.profile=prod"}},
		{name: "empty", in: "", want: []string{}},

		{name: "missing equals", in: "A=1\nJUSTKEY\n", errLine: 2, errMsg: `expected KEY=VALUE with KEY of letters, digits, _ and . (got "JUSTKEY")`},
		{name: "bad key", in: "1A=x\n", errLine: 1, errMsg: "expected KEY=VALUE"},
		{name: "dash in key", in: "A-B=x\n", errLine: 1, errMsg: "expected KEY=VALUE"},
		{name: "unterminated double", in: "A=1\nB=\"open\nC=2\n", errLine: 2, errKey: "B", errMsg: `unterminated "-quoted value`},
		{name: "unterminated single", in: "B='open\n", errLine: 1, errKey: "B", errMsg: "unterminated '-quoted value"},
		{name: "text after quote", in: "\nA=\"x\" y\n", errLine: 2, errKey: "A", errMsg: "after the closing quote"},
		{name: "unterminated brace", in: "A=${HOME\n", errLine: 1, errKey: "A", errMsg: "unterminated ${"},
		{name: "unterminated brace in quotes", in: "A=\"${HOME\"\nB=}\n", errLine: 1, errKey: "A", errMsg: "unterminated ${"},
		{name: "bad brace name", in: "A=${HO ME}\n", errLine: 1, errKey: "A", errMsg: "is not a variable name"},
		{name: "line numbers after multi-line value", in: "A=\"1\n2\n3\"\nB\n", errLine: 4, errMsg: "expected KEY=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvFile(".env", []byte(tt.in), lookup)
			if tt.errMsg != "" {
				checkErr(t, err, ".env", want{line: tt.errLine, key: tt.errKey, msg: tt.errMsg})
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
