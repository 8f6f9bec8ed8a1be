package p2import_test

import "time"

var timeZero time.Time
