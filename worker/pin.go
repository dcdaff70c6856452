package worker

import (
	"context"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// RunPinned runs owner on the calling goroutine, locked to its OS thread
// and, when pin is true, that thread bound to the i-th CPU the process may
// use (wrapping around). It returns when owner returns, after giving the
// thread its former CPU mask back, so no pinned thread ever returns to the
// Go scheduler. Shard owners run this way so the state they own stays on
// one core's caches.
func RunPinned(ctx context.Context, i int, pin bool, owner func(context.Context)) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if pin {
		var former unix.CPUSet
		if err := unix.SchedGetaffinity(0, &former); err != nil {
			return fmt.Errorf("worker: read CPU affinity: %w", err)
		}
		cpu, err := nthCPU(&former, i)
		if err != nil {
			return err
		}
		var one unix.CPUSet
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			return fmt.Errorf("worker: pin to CPU %d: %w", cpu, err)
		}
		defer func() {
			if err := unix.SchedSetaffinity(0, &former); err != nil {
				// The thread must not go back to the scheduler pinned:
				// leaving it locked makes it exit with this goroutine.
				runtime.LockOSThread()
			}
		}()
	}
	owner(ctx)
	return nil
}

// nthCPU is the i-th CPU (modulo their count) set in allowed.
func nthCPU(allowed *unix.CPUSet, i int) (int, error) {
	n := allowed.Count()
	if n == 0 {
		return 0, fmt.Errorf("worker: no CPU in the affinity mask")
	}
	want := i % n
	for cpu := 0; cpu < len(allowed)*64; cpu++ {
		if !allowed.IsSet(cpu) {
			continue
		}
		if want == 0 {
			return cpu, nil
		}
		want--
	}
	return 0, fmt.Errorf("worker: CPU %d of the affinity mask not found", i%n)
}
