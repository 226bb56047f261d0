package registry_test

import (
	"os"
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

func benchParse(b *testing.B, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := registry.Parse(path, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCSV parses and indexes the full CSV (target < 150 ms).
func BenchmarkParseCSV(b *testing.B) { benchParse(b, testenv.FullCSV(b)) }

// BenchmarkParseXML parses and indexes the full XML (target < 400 ms).
func BenchmarkParseXML(b *testing.B) { benchParse(b, testenv.FullXML(b)) }

// BenchmarkParseText parses the excerpt.
func BenchmarkParseText(b *testing.B) { benchParse(b, testenv.Excerpt()) }

func BenchmarkByPort(b *testing.B) {
	r, err := registry.ParseFile(testenv.FullXML(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	p := uint16(0)
	for b.Loop() {
		r.ByPort(p, registry.TCP)
		p++
	}
}
