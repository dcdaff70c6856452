package worker

import (
	"context"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// RunPinned runs owner on a goroutine locked to its OS thread and, when pin
// is true, that thread bound to the i-th CPU the process may use (wrapping
// around). It returns when owner returns. Shard owners run this way so the
// state they own stays on one core's caches.
func RunPinned(ctx context.Context, i int, pin bool, owner func(context.Context)) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if pin {
		if err := pinThread(i); err != nil {
			return err
		}
	}
	owner(ctx)
	return nil
}

// pinThread binds the calling thread to the i-th CPU of the process's
// allowed set.
func pinThread(i int) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return fmt.Errorf("worker: read CPU affinity: %w", err)
	}
	n := allowed.Count()
	if n == 0 {
		return fmt.Errorf("worker: no CPU in the affinity mask")
	}
	want := i % n
	for cpu := 0; cpu < len(allowed)*64; cpu++ {
		if !allowed.IsSet(cpu) {
			continue
		}
		if want == 0 {
			var one unix.CPUSet
			one.Set(cpu)
			if err := unix.SchedSetaffinity(0, &one); err != nil {
				return fmt.Errorf("worker: pin to CPU %d: %w", cpu, err)
			}
			return nil
		}
		want--
	}
	return fmt.Errorf("worker: CPU %d of the affinity mask not found", i%n)
}
