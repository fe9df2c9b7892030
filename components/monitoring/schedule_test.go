package monitoring

import (
	"testing"
	"time"
)

func TestLongestGap(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		schedule, zone string
		want           time.Duration
	}{
		{"* * * * *", "", time.Minute},
		{"*/15 * * * *", "", 15 * time.Minute},
		{"0 * * * *", "", time.Hour},
		{"0 0,12 * * *", "", 12 * time.Hour},
		{"0 8-17 * * *", "", 15 * time.Hour},               // 17:00 to 08:00 the next day
		{"0 3 * * *", "Asia/Tokyo", day},                   // no daylight saving
		{"0 12 * * *", "America/New_York", 25 * time.Hour}, // the autumn change lengthens one day
		{"0 9 * * 1-5", "", 3 * day},                       // Friday to Monday
		{"*/5 * 1-28 * *", "", 3*day + 5*time.Minute},      // the 28th to the 1st in 31-day months
		{"0 0 1 * *", "", 31 * day},                        // month starts
		{"0 0 29 2 *", "", 1461 * day},                     // leap days, four years apart
		{"@hourly", "", time.Hour},
		{"@every 90m", "", 90 * time.Minute},
	} {
		got, err := LongestGap(tc.schedule, tc.zone)
		if err != nil {
			t.Errorf("LongestGap(%q, %q): %v", tc.schedule, tc.zone, err)
			continue
		}
		if got != tc.want {
			t.Errorf("LongestGap(%q, %q) = %s, want %s", tc.schedule, tc.zone, got, tc.want)
		}
	}
	for _, bad := range [][2]string{{"0 * * * * *", ""}, {"not a schedule", ""}, {"0 3 * * *", "Mars/Olympus"}, {"0 0 30 2 *", ""}} {
		if _, err := LongestGap(bad[0], bad[1]); err == nil {
			t.Errorf("LongestGap(%q, %q) gives no error", bad[0], bad[1])
		}
	}
}

func TestOverdueWindow(t *testing.T) {
	for _, tc := range []struct {
		gap, want time.Duration
		ok        bool
	}{
		{time.Minute, 2 * time.Minute, true},              // 2 x 60s is exactly the 120s minimum
		{30 * time.Second, 2 * time.Minute, true},         // raised to the minimum
		{61 * time.Second, 3 * time.Minute, true},         // 122s, rounded up to whole minutes
		{15 * time.Minute, 30 * time.Minute, true},        //
		{11*time.Hour + 45*time.Minute, MaxAbsence, true}, // exactly 23h30m
		{11*time.Hour + 46*time.Minute, 23*time.Hour + 32*time.Minute, false},
		{24 * time.Hour, 48 * time.Hour, false}, // a daily job
	} {
		got, ok := OverdueWindow(tc.gap)
		if got != tc.want || ok != tc.ok {
			t.Errorf("OverdueWindow(%s) = %s, %v; want %s, %v", tc.gap, got, ok, tc.want, tc.ok)
		}
	}
	o, err := CronJob{Name: "weekdays", Schedule: "0 9 * * 1-5"}.Overdue()
	if err != nil || o.Gap != 72*time.Hour || o.OK {
		t.Errorf("Overdue of a weekday job: %+v, %v", o, err)
	}
	o, err = CronJob{Name: "quarter", Schedule: "*/15 * * * *"}.Overdue()
	if err != nil || o.Window != 30*time.Minute || !o.OK {
		t.Errorf("Overdue of a 15-minute job: %+v, %v", o, err)
	}
}
