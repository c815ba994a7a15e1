package proc

// NativeSyscalls is the table of the architecture pmux was built for.
var NativeSyscalls = SyscallsAMD64
