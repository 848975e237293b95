package display

import (
	"encoding/csv"
	"io"
)

// CSVCell returns s made safe to open in a spreadsheet: a value whose
// first character is =, +, -, @, a tab or a carriage return, which
// spreadsheet programs may read as a formula (OWASP "CSV Injection"), gets
// a leading apostrophe ("'=1+2"), which they show as text; any other value
// is returned as it is. The apostrophe stays in the value a CSV reader
// gets.
func CSVCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// CSVWriter is an encoding/csv Writer that passes every cell through
// CSVCell: the writer every CSV certgate writes goes through. Its quoting
// is encoding/csv's (RFC 4180).
type CSVWriter struct {
	w *csv.Writer
}

// NewCSVWriter returns a CSVWriter writing to w.
func NewCSVWriter(w io.Writer) *CSVWriter {
	return &CSVWriter{w: csv.NewWriter(w)}
}

// Write writes one record, each cell guarded by CSVCell (record itself is
// not changed). The output is buffered: call Flush, or use WriteAll.
// Errors are encoding/csv's and the underlying writer's.
func (c *CSVWriter) Write(record []string) error {
	guarded := make([]string, len(record))
	for i, s := range record {
		guarded[i] = CSVCell(s)
	}
	return c.w.Write(guarded)
}

// WriteAll writes records as Write does, then flushes.
func (c *CSVWriter) WriteAll(records [][]string) error {
	for _, r := range records {
		if err := c.Write(r); err != nil {
			return err
		}
	}
	c.w.Flush()
	return c.w.Error()
}

// Flush writes any buffered data to the underlying writer; Error reports
// a failure.
func (c *CSVWriter) Flush() { c.w.Flush() }

// Error returns the error of a previous Write or Flush, if any.
func (c *CSVWriter) Error() error { return c.w.Error() }
