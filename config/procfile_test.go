package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseProcfile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []ProcfileEntry
		errLine int
		errKey  string
		errMsg  string
	}{
		{name: "foreman example",
			in: "web: bundle exec rails s -p $PORT -b 0.0.0.0:3000\nworker:   bundle exec sidekiq  \n",
			want: []ProcfileEntry{
				{Name: "web", Command: "bundle exec rails s -p $PORT -b 0.0.0.0:3000", Line: 1},
				{Name: "worker", Command: "bundle exec sidekiq", Line: 2},
			}},
		{name: "comments blanks CRLF and BOM",
			in: "\ufeff# processes\r\n\r\n  web: ./web\r\n   # indented comment\nclock_2-b: ./clock # shell comment kept\n",
			want: []ProcfileEntry{
				{Name: "web", Command: "./web", Line: 3},
				{Name: "clock_2-b", Command: "./clock # shell comment kept", Line: 5},
			}},
		{name: "no trailing newline", in: "web:./web", want: []ProcfileEntry{{Name: "web", Command: "./web", Line: 1}}},
		{name: "empty file", in: "", want: nil},
		{name: "duplicate", in: "web: a\njobs: b\nweb: c\n", errLine: 3, errKey: "web", errMsg: `process type "web" is already defined on line 1`},
		{name: "no colon", in: "web: a\nthis is not a process\n", errLine: 2, errMsg: `expected "name: command"`},
		{name: "bad name", in: "web app: ./x\n", errLine: 1, errMsg: `process type "web app" may only use letters`},
		{name: "empty name", in: ": ./x\n", errLine: 1, errMsg: "process type must not be empty"},
		{name: "empty command", in: "web:   \n", errLine: 1, errKey: "web", errMsg: "empty command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcfile("Procfile", []byte(tt.in))
			if tt.errMsg != "" {
				checkErr(t, err, "Procfile", want{line: tt.errLine, key: tt.errKey, msg: tt.errMsg})
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	_, err := ParseProcfile("Procfile", []byte("a: x\na: y\n"))
	if !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate is not ErrDuplicate: %v", err)
	}
}

func TestParseFormation(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]int
		wantErr string
	}{
		{in: "web=2,jobs=1", want: map[string]int{"web": 2, "jobs": 1}},
		{in: "all=2", want: map[string]int{"all": 2}},
		{in: " web = 3 , clock=0 ", want: map[string]int{"web": 3, "clock": 0}},
		{in: "", want: map[string]int{}},
		{in: "web", wantErr: `"web" is not NAME=COUNT`},
		{in: "web=two", wantErr: "count for web must be an integer 0..1024"},
		{in: "web=-1", wantErr: "count for web must be an integer"},
		{in: "web=2000", wantErr: "0..1024"},
		{in: "web=1,web=2", wantErr: "duplicate process type web"},
		{in: "w b=1", wantErr: "may only use letters"},
		{in: "web=1,", wantErr: `"" is not NAME=COUNT`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFormation(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v %v, want %v", got, err, tt.want)
			}
		})
	}
}
