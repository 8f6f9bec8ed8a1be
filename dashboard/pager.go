package dashboard

import (
	"net/http"
	"strconv"
)

// pager is one page of a table: which rows it shows and the links to the
// pages either side, with the request's other query parameters kept.
type pager struct {
	Page  int
	Pages int
	Total int
	// From and To number the rows shown, from 1; From is 0 when none.
	From, To int
	Prev     string
	Next     string
}

// pageParam reads ?page=, 1 when absent or bad.
func pageParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// newPager pages total rows size at a time; total < 0 means unknown, with
// more saying whether a next page exists.
func newPager(r *http.Request, size, total int, more bool) pager {
	p := pager{Page: pageParam(r), Total: total}
	if total >= 0 {
		p.Pages = max(1, (total+size-1)/size)
		p.Page = min(p.Page, p.Pages)
		more = p.Page < p.Pages
	}
	start := (p.Page - 1) * size
	if total < 0 || start < total {
		p.From = start + 1
		p.To = start + size
		if total >= 0 {
			p.To = min(total, p.To)
		}
	}
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return "?" + q.Encode()
	}
	if p.Page > 1 {
		p.Prev = link(p.Page - 1)
	}
	if more {
		p.Next = link(p.Page + 1)
	}
	return p
}

// bounds are the slice indexes of the page's rows in a list of n.
func (p pager) bounds(n int) (int, int) {
	if p.From == 0 {
		return n, n
	}
	return min(n, p.From-1), min(n, p.To)
}
