/*
 * Unit tests for control/announce.c's scheduler (announce_sched): when a
 * registration announces, its backoff, intervals, and the stopped event.
 * Virtual time only. The URL, request and response tests are in
 * test_announce.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../testutil.h"
#include "announce.h"

/* ---- the scheduler ---- */

#define SEC 1000ULL

static void sched(struct announce_sched *s, uint64_t now)
{
	cr_assert_eq(announce_sched_init(s, NULL, now), 0);
}

static enum announce_event must_due(struct announce_sched *s, uint64_t now)
{
	enum announce_event ev = (enum announce_event) - 1;

	cr_assert_eq(announce_sched_due(s, now, &ev), 1, "nothing due at %llu",
		     (unsigned long long)now);
	return ev;
}

static void not_due(struct announce_sched *s, uint64_t now)
{
	enum announce_event ev;

	cr_assert_eq(announce_sched_due(s, now, &ev), 0, "due at %llu (event %d)",
		     (unsigned long long)now, (int)ev);
}

Test(announce_sched, started_then_regular)
{
	struct announce_sched s;

	sched(&s, 5000);
	cr_assert_eq(announce_sched_next_ms(&s), 5000);
	not_due(&s, 4999);
	cr_assert_eq(must_due(&s, 5000), ANNOUNCE_EVENT_STARTED);
	/* in flight: nothing more until it ends or its 120 s deadline */
	not_due(&s, 5001);
	cr_assert_eq(announce_sched_next_ms(&s), 5000 + 120 * SEC);
	cr_assert_eq(announce_sched_on_success(&s, 6000, 1800, -1), 0);
	cr_assert_eq(s.state, ANNOUNCE_SCHED_RUNNING);
	cr_assert_eq(announce_sched_next_ms(&s), 6000 + 1800 * SEC);
	not_due(&s, 6000 + 1800 * SEC - 1);
	cr_assert_eq(must_due(&s, 6000 + 1800 * SEC), ANNOUNCE_EVENT_NONE);
	cr_assert_eq(announce_sched_on_success(&s, 6000 + 1801 * SEC, 900, -1), 0);
	cr_assert_eq(announce_sched_next_ms(&s), 6000 + 2701 * SEC);
	cr_assert_eq(must_due(&s, 6000 + 2701 * SEC), ANNOUNCE_EVENT_NONE);
}

Test(announce_sched, min_interval_respected)
{
	struct announce_sched s;

	sched(&s, 0);
	must_due(&s, 0);
	/* interval 60 s but min interval 600 s: the larger wins */
	cr_assert_eq(announce_sched_on_success(&s, 1000, 60, 600), 0);
	cr_assert_eq(announce_sched_next_ms(&s), 601 * SEC);
	not_due(&s, 601 * SEC - 1);
	cr_assert_eq(must_due(&s, 601 * SEC), ANNOUNCE_EVENT_NONE);
	cr_assert_eq(s.min_interval_s, 600);
}

Test(announce_sched, interval_clamped_and_defaulted)
{
	struct announce_sched s;

	sched(&s, 0);
	must_due(&s, 0);
	announce_sched_on_success(&s, 0, 5, -1);
	cr_assert_eq(announce_sched_next_ms(&s), 30 * SEC, "floor 30 s");
	must_due(&s, 30 * SEC);
	announce_sched_on_success(&s, 30 * SEC, 1000000000, 2000000000);
	cr_assert_eq(announce_sched_next_ms(&s), (30 + 86400) * SEC, "ceiling 24 h");
	must_due(&s, (30 + 86400) * SEC);
	announce_sched_on_success(&s, 86431 * SEC, -1, -1);
	cr_assert_eq(announce_sched_next_ms(&s), (86431 + 1800) * SEC, "default 1800 s");
}

Test(announce_sched, backoff_doubles_and_caps)
{
	static const uint64_t want_s[] = { 15, 30, 60, 120, 240, 480, 960, 1800, 1800, 1800 };
	struct announce_sched s;
	uint64_t t = 0;

	sched(&s, 0);
	for (size_t i = 0; i < sizeof(want_s) / sizeof(want_s[0]); i++) {
		cr_assert_eq(must_due(&s, t), ANNOUNCE_EVENT_STARTED, "retry %zu", i);
		t += 500;
		cr_assert_eq(announce_sched_on_failure(&s, t), 0);
		cr_assert_eq(announce_sched_next_ms(&s), t + want_s[i] * SEC, "failure %zu", i + 1);
		not_due(&s, t + want_s[i] * SEC - 1);
		t += want_s[i] * SEC;
	}
	cr_assert_eq(s.failures, 10);
}

Test(announce_sched, backoff_reset_on_success)
{
	struct announce_sched s;
	uint64_t t;

	sched(&s, 0);
	must_due(&s, 0);
	announce_sched_on_failure(&s, 0); /* retry at 15 s */
	must_due(&s, 15 * SEC);
	announce_sched_on_failure(&s, 15 * SEC); /* then 30 s later */
	cr_assert_eq(announce_sched_next_ms(&s), 45 * SEC);
	must_due(&s, 45 * SEC);
	announce_sched_on_success(&s, 45 * SEC, 100, -1);
	cr_assert_eq(s.failures, 0);
	t = 145 * SEC;
	cr_assert_eq(must_due(&s, t), ANNOUNCE_EVENT_NONE);
	announce_sched_on_failure(&s, t);
	cr_assert_eq(announce_sched_next_ms(&s), t + 15 * SEC, "back to the base delay");
}

Test(announce_sched, attempt_timeout_counts_as_failure)
{
	struct announce_sched s;

	sched(&s, 0);
	must_due(&s, 0);
	not_due(&s, 120 * SEC - 1);
	/* at the deadline the attempt fails; the retry is 15 s after the deadline */
	not_due(&s, 120 * SEC);
	cr_assert_eq(s.in_flight, 0);
	cr_assert_eq(s.failures, 1);
	cr_assert_eq(announce_sched_next_ms(&s), 135 * SEC);
	cr_assert_eq(must_due(&s, 135 * SEC), ANNOUNCE_EVENT_STARTED);
	/* a report for an attempt that already timed out is refused */
	not_due(&s, 255 * SEC);
	cr_assert_eq(announce_sched_on_success(&s, 255 * SEC, 60, -1), -EINVAL);
}

Test(announce_sched, stop_sends_stopped_once)
{
	struct announce_sched s;

	sched(&s, 0);
	must_due(&s, 0);
	announce_sched_on_success(&s, 0, 1800, 1800);
	/* stopped ignores min interval: due at once */
	announce_sched_stop(&s, 10 * SEC);
	cr_assert_eq(s.state, ANNOUNCE_SCHED_STOPPING);
	cr_assert_eq(announce_sched_next_ms(&s), 10 * SEC);
	cr_assert_eq(must_due(&s, 10 * SEC), ANNOUNCE_EVENT_STOPPED);
	announce_sched_stop(&s, 11 * SEC); /* repeated: harmless */
	cr_assert_eq(announce_sched_on_success(&s, 11 * SEC, 1800, -1), 0);
	cr_assert(announce_sched_done(&s));
	cr_assert_eq(announce_sched_next_ms(&s), ANNOUNCE_NEVER);
	not_due(&s, 100000 * SEC);
}

Test(announce_sched, failed_stopped_is_not_retried)
{
	struct announce_sched s;

	sched(&s, 0);
	must_due(&s, 0);
	announce_sched_on_success(&s, 0, 1800, -1);
	announce_sched_stop(&s, 0);
	cr_assert_eq(must_due(&s, 0), ANNOUNCE_EVENT_STOPPED);
	announce_sched_on_failure(&s, 1);
	cr_assert(announce_sched_done(&s));
	not_due(&s, 1000 * SEC);
	/* and a stopped that times out ends it too */
	sched(&s, 0);
	must_due(&s, 0);
	announce_sched_on_success(&s, 0, 1800, -1);
	announce_sched_stop(&s, 0);
	must_due(&s, 0);
	not_due(&s, 120 * SEC);
	cr_assert(announce_sched_done(&s));
}

Test(announce_sched, stop_before_anything_sent)
{
	struct announce_sched s;

	sched(&s, 0);
	announce_sched_stop(&s, 0);
	cr_assert(announce_sched_done(&s));
	not_due(&s, 0);
}

Test(announce_sched, stop_while_in_flight)
{
	struct announce_sched s;

	sched(&s, 0);
	cr_assert_eq(must_due(&s, 0), ANNOUNCE_EVENT_STARTED);
	announce_sched_stop(&s, 1 * SEC);
	not_due(&s, 2 * SEC);
	/* the started attempt ends; stopped follows at once despite min interval */
	cr_assert_eq(announce_sched_on_success(&s, 3 * SEC, 1800, 1800), 0);
	cr_assert_eq(s.state, ANNOUNCE_SCHED_STOPPING);
	cr_assert_eq(must_due(&s, 3 * SEC), ANNOUNCE_EVENT_STOPPED);
	announce_sched_on_success(&s, 4 * SEC, -1, -1);
	cr_assert(announce_sched_done(&s));
}

Test(announce_sched, stop_after_failed_started_still_withdraws)
{
	struct announce_sched s;

	sched(&s, 0);
	must_due(&s, 0);
	announce_sched_on_failure(&s, 0);
	/* the started may have reached the tracker: withdraw it */
	announce_sched_stop(&s, 1 * SEC);
	cr_assert_eq(must_due(&s, 1 * SEC), ANNOUNCE_EVENT_STOPPED);
}

Test(announce_sched, reports_without_attempt_refused)
{
	struct announce_sched s;

	sched(&s, 0);
	cr_assert_eq(announce_sched_on_success(&s, 0, 60, -1), -EINVAL);
	cr_assert_eq(announce_sched_on_failure(&s, 0), -EINVAL);
	cr_assert_eq(s.state, ANNOUNCE_SCHED_STARTING);
	cr_assert_eq(s.failures, 0);
}

#define SCHED_FIELD(f, v) TU_U32_FIELD(struct announce_sched_cfg, f, v)

Test(announce_sched, config_checked)
{
	static const struct tu_u32_field bad[] = {
		SCHED_FIELD(backoff_base_s, 0),
		SCHED_FIELD(backoff_base_s, 1801), /* backoff_max_s + 1 */
		SCHED_FIELD(default_interval_s, 10),
		SCHED_FIELD(attempt_timeout_s, 0),
	};
	struct announce_sched s;
	struct announce_sched_cfg c;

	static const struct tu_u32_field defaults[] = {
		SCHED_FIELD(default_interval_s, 1800),
		SCHED_FIELD(backoff_base_s, 15),
		SCHED_FIELD(backoff_max_s, 1800),
	};
	announce_sched_cfg_default(&c);
	tu_check_u32(&c, defaults, TU_N(defaults));
	cr_assert_eq(announce_sched_init(&s, &c, 0), 0);
	for (size_t i = 0; i < TU_N(bad); i++) {
		announce_sched_cfg_default(&c);
		tu_set_u32(&c, &bad[i]);
		cr_assert_eq(announce_sched_init(&s, &c, 0), -EINVAL, "%s = %u", bad[i].name,
			     bad[i].value);
	}
}

Test(announce_sched, far_future_saturates)
{
	struct announce_sched s;

	sched(&s, UINT64_MAX - 10 * SEC);
	must_due(&s, UINT64_MAX - 10 * SEC);
	cr_assert_eq(announce_sched_next_ms(&s), UINT64_MAX);
	announce_sched_on_success(&s, UINT64_MAX - 5 * SEC, 1800, -1);
	cr_assert_eq(announce_sched_next_ms(&s), UINT64_MAX);
	not_due(&s, UINT64_MAX - 1);
}

/*
 * A long random run (fixed seed): whatever the tracker answers, no announce
 * but `stopped` goes out before last success + max(interval, min interval),
 * both clamped as documented; and one attempt at a time.
 */
Test(announce_sched, never_early_random_run)
{
	struct announce_sched s;
	uint32_t x = 0x2545f491;
	uint64_t t = 0, bound = 0;
	int sent = 0, ok = 0;

	sched(&s, 0);
	for (int step = 0; step < 20000; step++) {
		enum announce_event ev;
		uint32_t choice;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		t += x % (700 * SEC);
		if (!announce_sched_due(&s, t, &ev))
			continue;
		cr_assert_neq(ev, ANNOUNCE_EVENT_STOPPED);
		cr_assert_geq(t, bound, "announce at %llu before %llu", (unsigned long long)t,
			      (unsigned long long)bound);
		sent++;
		choice = (x >> 8) % 4;
		if (choice == 3)
			continue; /* never reported: it times out inside due() */
		t += (x >> 12) % (100 * SEC);
		if (choice == 0) {
			int64_t iv = (int64_t)((x >> 10) % 5000) - 100;
			int64_t miv = (int64_t)((x >> 3) % 3000) - 100;
			/* the documented clamps, restated */
			int64_t ivc = iv < 0 ? 1800 : iv < 30 ? 30 : iv > 86400 ? 86400 : iv;
			int64_t mivc = miv < 0 ? 0 : miv;

			cr_assert_eq(announce_sched_on_success(&s, t, iv, miv), 0);
			bound = t + (uint64_t)(ivc > mivc ? ivc : mivc) * SEC;
			ok++;
		} else {
			cr_assert_eq(announce_sched_on_failure(&s, t), 0);
		}
	}
	cr_assert_gt(sent, 1000, "%d", sent);
	cr_assert_gt(ok, 100, "%d", ok);
}
