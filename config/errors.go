package config

import "fmt"

// Error is one problem in a configuration file, at the line of the
// offending key (or of the enclosing table, for a missing key). Load and
// Parse return one *Error, or several joined with errors.Join, one per line
// of output; errors.As finds the first.
type Error struct {
	File string // as given to Load or Parse
	Line int    // 1-based
	Msg  string // the reason, naming the key
	Err  error  // the underlying cause, if any
}

// Error formats e as "FILE:LINE: reason", the form editors and CI jump to.
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Unwrap returns the underlying cause, such as a time.ParseDuration error.
func (e *Error) Unwrap() error { return e.Err }
