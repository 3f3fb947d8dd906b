package pact

import (
	"encoding/json"
	"reflect"
	"testing"
)

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,false,null,"x\u00e9\n",-0.5e-3],"c":{}}`, `[]`, `"\ud83d\ude00"`, `"\ud800"`, "\"\xff\"",
		`1e999`, `01`, `{"a":1,}`, `[1 2]`, ` {"k" : "v" } `, `-`, `1.`, `"a\"b"`, `{"a":1,"a":2}`, `"\/"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := parseJSON(b)
		var want any
		wantErr := json.Unmarshal(b, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: got error %v, encoding/json %v", b, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, encoding/json %#v", b, got, want)
		}
	})
}
