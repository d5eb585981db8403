package kernel

import (
	"fmt"
	"math/bits"

	"github.com/mxfwd/mxfwd/hal"
)

// idPool allocates next-hop ids from [base, limit]. Ids are handed out in
// increasing order; a freed id is reused only after the pool wrapped past
// limit, so that an id does not come back while a line card may still be
// processing the delete of its previous user. The bitmap grows with the
// highest id handed out, so it costs limit-base bits at most (2 MiB for the
// default kernel pool of 2^24 ids).
type idPool struct {
	name        string
	base, limit hal.NHID
	next        hal.NHID
	wrapped     bool
	used        []uint64 // bit i: base+i in use
	inUse       int
}

func newIDPool(name string, base, limit hal.NHID) idPool {
	return idPool{name: name, base: base, limit: limit, next: base}
}

func (p *idPool) size() int { return int(p.limit-p.base) + 1 }

func (p *idPool) contains(id hal.NHID) bool { return id >= p.base && id <= p.limit }

func (p *idPool) isUsed(id hal.NHID) bool {
	if !p.contains(id) {
		return false
	}
	i := uint32(id - p.base)
	w := int(i / 64)
	return w < len(p.used) && p.used[w]&(1<<(i%64)) != 0
}

func (p *idPool) mark(id hal.NHID) {
	i := uint32(id - p.base)
	w := int(i / 64)
	for w >= len(p.used) {
		p.used = append(p.used, 0)
	}
	p.used[w] |= 1 << (i % 64)
	p.inUse++
}

// reserve marks an explicitly chosen id as used. Ids outside the pool are
// accepted and ignored (the caller tracks them).
func (p *idPool) reserve(id hal.NHID) error {
	if !p.contains(id) {
		return nil
	}
	if p.isUsed(id) {
		return fmt.Errorf("%s id %d: %w", p.name, id, hal.ErrExists)
	}
	p.mark(id)
	return nil
}

// alloc returns the next free id.
func (p *idPool) alloc() (hal.NHID, error) {
	if p.inUse >= p.size() {
		return 0, fmt.Errorf("%s id pool %d..%d: %w", p.name, p.base, p.limit, hal.ErrTableFull)
	}
	for {
		if p.next > p.limit || p.next < p.base {
			p.next = p.base
			p.wrapped = true
		}
		id := p.next
		i := uint32(id - p.base)
		w := int(i / 64)
		if w < len(p.used) && p.used[w] == ^uint64(0) && i%64 == 0 {
			// A full word: skip 64 ids at once.
			p.next += 64
			if p.next < id { // overflow
				p.next = p.limit + 1
			}
			continue
		}
		p.next++
		if w < len(p.used) && p.used[w]&(1<<(i%64)) != 0 {
			continue
		}
		p.mark(id)
		return id, nil
	}
}

// free releases id. Freeing an id outside the pool is a no-op.
func (p *idPool) free(id hal.NHID) {
	if !p.isUsed(id) {
		return
	}
	i := uint32(id - p.base)
	p.used[i/64] &^= 1 << (i % 64)
	p.inUse--
}

// count returns the number of used ids (for tests).
func (p *idPool) count() int {
	n := 0
	for _, w := range p.used {
		n += bits.OnesCount64(w)
	}
	return n
}
