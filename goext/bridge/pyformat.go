package bridge

import "strings"

// PyFormat rewrites a statement with $n parameters into the %s style of
// psycopg2 and psycopg, returning the parameter numbers in the order of
// their %s. Every % is doubled, since the drivers read % everywhere; $n
// inside quoted identifiers and string literals is left alone.
func PyFormat(sql string) (string, []int) {
	var b strings.Builder
	var order []int
	var quote byte // the quote we are inside, or 0
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '%':
			b.WriteString("%%")
			continue
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote re-enters at once on the next byte
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '$' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			n := 0
			for i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9' {
				i++
				n = n*10 + int(sql[i]-'0')
			}
			order = append(order, n)
			b.WriteString("%s")
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), order
}
