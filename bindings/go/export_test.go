package vframe

// JobsInFlight is the number of pool jobs submitted and not yet called back, for tests
// that check every job ends and releases its handle.
func JobsInFlight() int64 { return inFlight.Load() }

// PoolRoom is how many jobs the package lets into the shared pool at once; more calls with
// a context wait for room.
func PoolRoom() int {
	pool()
	return cap(places)
}
