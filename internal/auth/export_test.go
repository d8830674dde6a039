package auth

// PruneOnce is one round of Prune, for tests that check what it deletes.
var PruneOnce = (*Service).pruneOnce
