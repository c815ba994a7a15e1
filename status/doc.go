// Package status is the vocabulary the master shares with the packages
// that report on it: the snapshot a status request returns (Status, as
// the control socket sends it in JSON and `pmux status` prints it), the
// errors a request can meet, and the Observer the metrics implement. It
// holds types only, so control and metrics depend on it and not on the
// manager, whose loop fills them in.
package status
