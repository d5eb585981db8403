package pim

// The engine keeps one timer node per object that has timers (an interface
// with its neighbours, a (*,G) entry, an (S,G) entry, the bootstrap
// machinery). A node's deadline is the earliest of its object's timers; the
// objects fire all their due timers at once. Ties are broken by the node's
// sequence number, assigned at creation and carried in snapshots, so that
// an engine restored from a snapshot fires timers in the same order as the
// original.

type timerOwner interface {
	// deadline is the earliest running timer (0: none).
	deadline() int64
	// fire runs every timer due at now.
	fire(e *Engine, now int64)
}

type tnode struct {
	at    int64
	seq   uint64
	idx   int32 // position in the heap, -1 when not queued
	owner timerOwner
}

type tqueue []*tnode

func (q tqueue) less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}

func (q tqueue) swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idx = int32(i)
	q[j].idx = int32(j)
}

func (q *tqueue) up(j int) {
	for {
		i := (j - 1) / 2
		if i == j || !q.less(j, i) {
			break
		}
		q.swap(i, j)
		j = i
	}
}

func (q *tqueue) down(i0 int) bool {
	n := len(*q)
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 {
			break
		}
		j := j1
		if j2 := j1 + 1; j2 < n && q.less(j2, j1) {
			j = j2
		}
		if !q.less(j, i) {
			break
		}
		q.swap(i, j)
		i = j
	}
	return i > i0
}

func (q *tqueue) push(n *tnode) {
	n.idx = int32(len(*q))
	*q = append(*q, n)
	q.up(len(*q) - 1)
}

func (q *tqueue) remove(n *tnode) {
	i := int(n.idx)
	last := len(*q) - 1
	if i != last {
		q.swap(i, last)
	}
	(*q)[last] = nil
	*q = (*q)[:last]
	n.idx = -1
	if i != last {
		if !q.down(i) {
			q.up(i)
		}
	}
}

func (q *tqueue) fix(n *tnode) {
	if !q.down(int(n.idx)) {
		q.up(int(n.idx))
	}
}

// schedule (re)queues n at its owner's deadline.
func (e *Engine) schedule(n *tnode) {
	at := n.owner.deadline()
	if at == forever {
		at = 0
	}
	switch {
	case at == 0 && n.idx >= 0:
		e.tq.remove(n)
		n.at = 0
	case at == 0:
		n.at = 0
	case n.idx >= 0:
		n.at = at
		e.tq.fix(n)
	default:
		n.at = at
		e.tq.push(n)
	}
}

func (e *Engine) unschedule(n *tnode) {
	if n.idx >= 0 {
		e.tq.remove(n)
	}
	n.at = 0
}

func (e *Engine) newNode(owner timerOwner) tnode {
	e.seq++
	return tnode{seq: e.seq, idx: -1, owner: owner}
}

// minDeadline folds timers into the earliest running one.
func minDeadline(d int64, ts ...int64) int64 {
	for _, t := range ts {
		if t != 0 && t != forever && (d == 0 || t < d) {
			d = t
		}
	}
	return d
}
