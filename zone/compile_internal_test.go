package zone

import (
	"testing"

	"github.com/svcdns/svcdns/internal/testenv"
	"github.com/svcdns/svcdns/registry"
)

// TestCompiledAnswersShared: answers with the same bytes are stored once
// in the full registry's compiled zone (a third of its answer bytes
// repeat). The compilers of the build's workers each keep their own
// table, so a few repeats across workers remain: under 1% of the bytes.
func TestCompiledAnswersShared(t *testing.T) {
	reg, err := registry.ParseFile(testenv.FullXML(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Build(reg, DefaultOptions("ports.local."), nil)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint32]bool{}
	bodies := map[string]bool{}
	total, repeated, answers := 0, 0, 0
	s.eachName(func(_ int, n nameRec) {
		for i := range n.count() {
			answers++
			off := n.answer(i).off
			if stored[off] {
				continue
			}
			stored[off] = true
			b := string(s.blobAt(off))
			total += len(b)
			if bodies[b] {
				repeated += len(b)
			}
			bodies[b] = true
		}
	})
	if answers < 50000 || len(stored) > answers/2 {
		t.Errorf("%d answers in %d blobs: want most of the full zone's answers to share blobs", answers, len(stored))
	}
	if repeated*100 > total {
		t.Errorf("%d of %d compiled bytes are blobs stored twice", repeated, total)
	}
	t.Logf("%d answers, %d blobs, %d bytes, %d bytes repeated", answers, len(stored), total, repeated)
}
