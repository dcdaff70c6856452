package demoorigin

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var kinds = []bodyKind{bodyRandom, bodyText, bodyJSON}

func TestBodyChunking(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		chunks []int
	}{
		{name: "empty", size: 0, chunks: []int{1, 8}},
		{name: "shorter than a word", size: 5, chunks: []int{1, 2, 3}},
		{name: "odd chunks with tail", size: 1001, chunks: []int{1, 7, 8, 13, 100}},
		{name: "big chunks with tail", size: 100_003, chunks: []int{3, 4096, 8 << 10, 32<<10 + 1}},
		{name: "exact multiple", size: 64 << 10, chunks: []int{8, 32 << 10}},
	}
	for _, kind := range kinds {
		for _, tt := range tests {
			if kind == bodyJSON && tt.size < minJSONSize {
				continue
			}
			t.Run(kind.String()+"/"+tt.name, func(t *testing.T) {
				want := generate(kind, 42, tt.size, max(tt.size, 1))
				if len(want) != tt.size {
					t.Fatalf("len = %d, want %d", len(want), tt.size)
				}
				for _, chunk := range tt.chunks {
					if got := generate(kind, 42, tt.size, chunk); !bytes.Equal(got, want) {
						t.Errorf("%d bytes in chunks of %d differ from one fill", tt.size, chunk)
					}
				}
			})
		}
	}
}

func TestBodySeeds(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			seed := func(name string) uint64 { return bodySeed(name, false, "") }
			a := generate(kind, seed("a"), 4096, 4096)
			if !bytes.Equal(a, generate(kind, seed("a"), 4096, 4096)) {
				t.Error("same name, same size: bodies differ")
			}
			if bytes.Equal(a, generate(kind, seed("b"), 4096, 4096)) {
				t.Error("different names: bodies equal")
			}
			for _, tc := range []struct{ v1, v2 string }{{"en", "fr"}, {"", "x"}} {
				if bytes.Equal(generate(kind, bodySeed("a", true, tc.v1), 256, 256), generate(kind, bodySeed("a", true, tc.v2), 256, 256)) {
					t.Errorf("vary values %q and %q: bodies equal", tc.v1, tc.v2)
				}
			}
			if bytes.Equal(generate(kind, bodySeed("a", true, ""), 256, 256), generate(kind, seed("a"), 256, 256)) {
				t.Error("varying object with empty value has the unvaried body")
			}
			if kind == bodyJSON {
				return // a shorter document ends differently
			}
			if !bytes.Equal(generate(kind, seed("a"), 100, 100), a[:100]) {
				t.Error("a shorter body of one name is not a prefix of the longer")
			}
		})
	}
}

func TestRandomBodyUnchanged(t *testing.T) {
	// The first bytes of body=random for "a", as sent before there were
	// kinds: caches and tests outside this package may have stored them.
	if got, want := string(expected("a", 16)), "D|!snjs4ew:Nmtg$"; got != want {
		t.Errorf("random body of a = %q, want %q", got, want)
	}
}

func TestPrintableCoversRange(t *testing.T) {
	seen := map[byte]bool{}
	for i := range 256 {
		c := printable(byte(i))
		if c < 0x20 || c > 0x7e {
			t.Fatalf("printable(%#x) = %#x, outside 0x20-0x7e", i, c)
		}
		seen[c] = true
	}
	if got, want := len(seen), 95; got != want {
		t.Errorf("printable hits %d characters, want %d", got, want)
	}
}

func TestVocab(t *testing.T) {
	// appendCapital and the json strings rely on plain lower-case words.
	lower := regexp.MustCompile(`^[a-z]+$`)
	seen := map[string]bool{}
	for _, w := range vocab {
		if !lower.MatchString(w) || seen[w] {
			t.Errorf("vocab word %q: not lower-case letters, or repeated", w)
		}
		seen[w] = true
	}
	if len(vocab) < 300 {
		t.Errorf("%d vocab words, want a few hundred", len(vocab))
	}
}

func TestTextShape(t *testing.T) {
	body := string(generate(bodyText, bodySeed("t", false, ""), 200_000, 32<<10))
	if ok, _ := regexp.MatchString(`^[A-Z][a-z]*[ ,\n]`, body); !ok {
		t.Errorf("text starts %q, want a capitalised word", body[:20])
	}
	if ok, _ := regexp.MatchString(`^[A-Za-z ,.?!\n]*$`, body); !ok {
		t.Error("text has characters other than letters, spaces, newlines and punctuation")
	}
	for i, line := range strings.Split(body, "\n") {
		if len(line) > lineWidth {
			t.Fatalf("line %d is %d bytes long, want at most %d: %q", i, len(line), lineWidth, line)
		}
	}
	for _, s := range []string{". ", "\n\n", ", "} {
		if !strings.Contains(body, s) {
			t.Errorf("text never has %q", s)
		}
	}
	if strings.Contains(body, "\n\n\n") || strings.Contains(body, "  ") || strings.Contains(body, " \n") {
		t.Error("text has a run of blank lines or spaces")
	}
}

func TestJSONValid(t *testing.T) {
	var sizes []int
	for n := minJSONSize; n <= 1200; n++ {
		sizes = append(sizes, n) // every way the end can fall in the first records
	}
	sizes = append(sizes, 4096, 10_000, 65_537, 1<<20)
	for _, size := range sizes {
		for _, seed := range []uint64{1, 2} {
			b := generate(bodyJSON, seed, size, 1000)
			if len(b) != size {
				t.Fatalf("size %d: %d bytes", size, len(b))
			}
			if !json.Valid(b) {
				t.Fatalf("size %d, seed %d: invalid JSON: %q", size, seed, b)
			}
		}
	}
}

func TestJSONRecords(t *testing.T) {
	type record struct {
		ID      int64    `json:"id"`
		Name    string   `json:"name"`
		Email   string   `json:"email"`
		Active  *bool    `json:"active"`
		Balance float64  `json:"balance"`
		Tags    []string `json:"tags"`
		Address struct {
			City string `json:"city"`
			Zip  string `json:"zip"`
		} `json:"address"`
		Pad *string `json:"pad"`
	}
	const size = 100_000
	var recs []record
	if err := json.Unmarshal(generate(bodyJSON, 7, size, size), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) < 100 {
		t.Fatalf("%d records in %d bytes, want more", len(recs), size)
	}
	for i, r := range recs[:len(recs)-1] {
		if r.ID != int64(i+1) || r.Name == "" || !strings.HasSuffix(r.Email, "@example.com") || r.Active == nil ||
			len(r.Tags) == 0 || len(r.Address.Zip) != 5 || r.Address.City == "" || r.Pad != nil {
			t.Fatalf("record %d = %+v, want id %d and every field", i, r, i+1)
		}
	}
	if last := recs[len(recs)-1]; last.Pad == nil && last.ID != int64(len(recs)) {
		t.Errorf("last record %+v: neither padding nor the next record", last)
	}
}

func TestJSONSmallest(t *testing.T) {
	tests := []struct {
		size int
		want string // regular expression
	}{
		{size: 2, want: `^\[\]$`},
		{size: 3, want: `^\[ \]$`},
		{size: 11, want: `^\[ {9}\]$`},
		{size: 12, want: `^\[\{"pad":""\}\]$`},
		{size: 13, want: `^\[\{"pad":"[a-z]"\}\]$`},
		{size: 40, want: `^\[\{"pad":"[a-z ]{28}"\}\]$`},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.size), func(t *testing.T) {
			got := string(generate(bodyJSON, bodySeed("j", false, ""), tt.size, 1))
			if ok, _ := regexp.MatchString(tt.want, got); !ok {
				t.Errorf("json of %d bytes = %q, want a match for %s", tt.size, got, tt.want)
			}
		})
	}
}
