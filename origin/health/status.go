package health

import (
	"fmt"
	"strconv"
	"strings"
)

// defaultStatus is the set of statuses that pass an HTTP probe when the
// options name none: success and redirection, as nginx's health_check.
const defaultStatus = "200-399"

// statusRange is the inclusive range of status codes lo through hi.
type statusRange struct{ lo, hi int }

// statusSet is the set of statuses that pass an HTTP probe, in the order
// they were written.
type statusSet []statusRange

// parseStatus parses a comma-separated list of codes and inclusive ranges,
// such as "200", "200-399" or "200,204, 300-308". Every code is in 100-599
// and every range ascends.
func parseStatus(s string) (statusSet, error) {
	parts := strings.Split(s, ",")
	set := make(statusSet, 0, len(parts))
	for _, part := range parts {
		part = strings.TrimSpace(part)
		loText, hiText, isRange := strings.Cut(part, "-")
		lo, err := parseCode(loText)
		if err != nil {
			return nil, fmt.Errorf("status %q: %w", s, err)
		}
		hi := lo
		if isRange {
			if hi, err = parseCode(hiText); err != nil {
				return nil, fmt.Errorf("status %q: %w", s, err)
			}
			if hi < lo {
				return nil, fmt.Errorf("status %q: range %q descends", s, part)
			}
		}
		set = append(set, statusRange{lo, hi})
	}
	return set, nil
}

// parseCode parses one three-digit HTTP status code.
func parseCode(s string) (int, error) {
	s = strings.TrimSpace(s)
	if len(s) != 3 {
		return 0, fmt.Errorf("%q is not a three-digit status code", s)
	}
	code, err := strconv.Atoi(s)
	if err != nil || code < 100 || code > 599 {
		return 0, fmt.Errorf("%q is not a status code in 100-599", s)
	}
	return code, nil
}

// contains reports whether code is in the set.
func (s statusSet) contains(code int) bool {
	for _, r := range s {
		if r.lo <= code && code <= r.hi {
			return true
		}
	}
	return false
}

// String writes the set in the form parseStatus reads.
func (s statusSet) String() string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.lo))
		if r.hi != r.lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.hi))
		}
	}
	return b.String()
}
