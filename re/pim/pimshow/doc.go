// Package pimshow holds the data of the `show pim …` commands (JSON-tagged
// values the PIM engine in re/pim fills) and their text renderers in the
// modelled platform's layouts: `show pim join [extensive]` as in seed 003
// and reference-junos.md §2.4, `show pim neighbors [detail]`, `show pim
// interfaces`, `show pim rps` (§2.5); `show pim rps extensive`, `show pim
// bootstrap` and `show pim statistics` follow the platform's field sets
// from memory (no public capture). Durations are whole seconds; a negative
// Timeout means "Infinity" (or "None" for an RP).
//
// Pure functions of their arguments; safe for concurrent use.
package pimshow
