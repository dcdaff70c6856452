package worker

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRunPinned: the owner runs on a thread bound to exactly the chosen CPU
// of the process's allowed set, and unpinned it keeps the whole set.
func TestRunPinned(t *testing.T) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	var cpus []int
	for cpu := 0; cpu < len(allowed)*64 && len(cpus) < allowed.Count(); cpu++ {
		if allowed.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	tests := []struct {
		name  string
		i     int
		pin   bool
		wantN int // CPUs in the owner thread's mask
		want  int // the one CPU when wantN is 1
	}{
		{"first CPU", 0, true, 1, cpus[0]},
		{"last CPU", len(cpus) - 1, true, 1, cpus[len(cpus)-1]},
		{"wraps around", len(cpus), true, 1, cpus[0]},
		{"unpinned", 0, false, len(cpus), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got unix.CPUSet
			var gotErr error
			err := RunPinned(context.Background(), tt.i, tt.pin, func(context.Context) {
				gotErr = unix.SchedGetaffinity(0, &got)
			})
			if err != nil || gotErr != nil {
				t.Fatalf("RunPinned: %v, affinity: %v", err, gotErr)
			}
			if got.Count() != tt.wantN || (tt.wantN == 1 && !got.IsSet(tt.want)) {
				t.Errorf("owner thread may run on %d CPUs (CPU %d set: %v), want %d (CPU %d)", got.Count(), tt.want, tt.want >= 0 && got.IsSet(tt.want), tt.wantN, tt.want)
			}
		})
	}
}
