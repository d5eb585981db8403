package ipc

import "github.com/mxfwd/mxfwd/hal"

// OpFromMessage converts a download (ifl, next-hop or route add, change or
// delete) into the HAL operation the FPC applies. ok is false for every
// other message. Add and change both become a set: HAL sets are idempotent.
func OpFromMessage(m Message) (op hal.Op, ok bool) {
	switch m := m.(type) {
	case *IFLAdd:
		return hal.Op{Kind: hal.OpSetIFL, IFL: m.IFL}, true
	case *IFLChange:
		return hal.Op{Kind: hal.OpSetIFL, IFL: m.IFL}, true
	case *IFLDelete:
		return hal.Op{Kind: hal.OpDelIFL, IFL: hal.IFL{Index: m.Index}}, true
	case *NHAdd:
		return hal.Op{Kind: hal.OpSetNH, NH: m.NH}, true
	case *NHChange:
		return hal.Op{Kind: hal.OpSetNH, NH: m.NH}, true
	case *NHDelete:
		return hal.Op{Kind: hal.OpDelNH, NH: hal.NextHop{ID: m.ID}}, true
	case *RouteAdd:
		return hal.Op{Kind: hal.OpSetRoute, Route: m.Route}, true
	case *RouteChange:
		return hal.Op{Kind: hal.OpSetRoute, Route: m.Route}, true
	case *RouteDelete:
		return hal.Op{Kind: hal.OpDelRoute, Route: hal.Route{Key: m.Key}}, true
	case *TrapAdd:
		return hal.Op{Kind: hal.OpSetTrap, Trap: m.Trap}, true
	case *TrapDelete:
		return hal.Op{Kind: hal.OpDelTrap, Trap: hal.Trap{ID: m.ID}}, true
	}
	return hal.Op{}, false
}

// MessageFromOp converts a HAL operation into the download message the RE
// sends: a set becomes an add, or a change if change is true; a delete
// carries only the key. It returns nil for an unknown op kind. The message
// shares the op's slices (members, MAC).
func MessageFromOp(op hal.Op, change bool) Message {
	switch op.Kind {
	case hal.OpSetIFL:
		if change {
			return &IFLChange{IFL: op.IFL}
		}
		return &IFLAdd{IFL: op.IFL}
	case hal.OpDelIFL:
		return &IFLDelete{Index: op.IFL.Index}
	case hal.OpSetNH:
		if change {
			return &NHChange{NH: op.NH}
		}
		return &NHAdd{NH: op.NH}
	case hal.OpDelNH:
		return &NHDelete{ID: op.NH.ID}
	case hal.OpSetRoute:
		if change {
			return &RouteChange{Route: op.Route}
		}
		return &RouteAdd{Route: op.Route}
	case hal.OpDelRoute:
		return &RouteDelete{Key: op.Route.Key}
	case hal.OpSetTrap:
		return &TrapAdd{Trap: op.Trap}
	case hal.OpDelTrap:
		return &TrapDelete{ID: op.Trap.ID}
	}
	return nil
}
