package monitoring

import (
	"fmt"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
)

// scheduleHorizon is how far ahead a schedule's runs are examined: the
// cron parser itself gives up after five years, and four of them cover
// every day-of-month, month and day-of-week combination, leap days included.
const scheduleHorizon = 5

// scheduleStart is a fixed, leap-year start, so the same schedule always
// gives the same answer.
var scheduleStart = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// LongestGap returns the longest time between two consecutive runs of a
// CronJob schedule (standard five fields or a descriptor such as @daily or
// @every 2h), read with the cron parser Kubernetes uses, in timeZone (the
// controller's zone, UTC on GKE, when empty). Daylight-saving changes
// between run days are counted; a schedule that does not run again within
// five years reports five years.
func LongestGap(schedule, timeZone string) (time.Duration, error) {
	parsed, err := cron.ParseStandard(schedule)
	if err != nil {
		return 0, err
	}
	loc := time.UTC
	if timeZone != "" {
		if loc, err = time.LoadLocation(timeZone); err != nil {
			return 0, err
		}
	}
	switch s := parsed.(type) {
	case cron.ConstantDelaySchedule:
		return s.Delay, nil
	case *cron.ConstantDelaySchedule:
		return s.Delay, nil
	case *cron.SpecSchedule:
		spec := *s
		spec.Location = loc
		return specGap(&spec)
	default:
		return 0, fmt.Errorf("schedule %q: unsupported schedule type %T", schedule, parsed)
	}
}

// specGap works per day: a standard schedule runs at the same times of day
// on every day it runs, so the longest gap is either the longest gap
// between two times of one day or the gap from the last run of one run day
// to the first run of the next. Only the run days are visited.
func specGap(s *cron.SpecSchedule) (time.Duration, error) {
	var times []int // minutes after midnight
	for h := 0; h < 24; h++ {
		for m := 0; m < 60; m++ {
			if s.Hour&(1<<uint(h)) != 0 && s.Minute&(1<<uint(m)) != 0 {
				times = append(times, h*60+m)
			}
		}
	}
	if len(times) == 0 {
		return 0, fmt.Errorf("the schedule names no time of day")
	}
	sort.Ints(times)
	var longest time.Duration
	for i := 1; i < len(times); i++ {
		if g := time.Duration(times[i]-times[i-1]) * time.Minute; g > longest {
			longest = g
		}
	}
	last := times[len(times)-1]
	limit := time.Duration(scheduleHorizon) * 365 * 24 * time.Hour

	start := time.Date(scheduleStart.Year(), scheduleStart.Month(), scheduleStart.Day(), 0, 0, 0, 0, s.Location)
	end := start.AddDate(scheduleHorizon-1, 0, 0)
	run := s.Next(start.Add(-time.Second))
	if run.IsZero() {
		return 0, fmt.Errorf("the schedule never runs")
	}
	for !run.After(end) {
		y, m, d := run.Date()
		lastRun := time.Date(y, m, d, last/60, last%60, 0, 0, s.Location)
		next := s.Next(time.Date(y, m, d+1, 0, 0, 0, 0, s.Location).Add(-time.Second))
		if next.IsZero() {
			return limit, nil
		}
		if g := next.Sub(lastRun); g > longest {
			longest = g
		}
		run = next
	}
	return longest, nil
}

// OverdueWindow is how long no CronJob run may complete before the run
// counts as overdue: twice the longest gap between scheduled runs, rounded
// up to whole minutes and at least the 120 s a metric-absence condition
// needs. ok is false when that is longer than Cloud Monitoring allows an
// absence condition (23h30m); no overdue alert can then be declared.
func OverdueWindow(gap time.Duration) (window time.Duration, ok bool) {
	window = roundUp(2*gap, Granularity)
	if window < MinAbsence {
		window = MinAbsence
	}
	return window, window <= MaxAbsence
}
