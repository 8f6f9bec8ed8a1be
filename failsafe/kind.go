package failsafe

// HoldKind names failsafe holds in audit records (an operator's release);
// their ids there are hold ids.
const HoldKind = "failsafe_holds"
