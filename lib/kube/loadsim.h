/*
 * A load profile run through an autoscaler's rules (autoscale.h) without a
 * cluster: `memectl simulate`. Requests arrive at the profile's rate into
 * the queue; each worker completes a fixed number per second; KEDA polls
 * the lag (arrived and not yet completed) every pollingInterval, and a plain
 * HPA sees CPU utilization from the rate. The queue is a fluid model, so
 * the answer does not depend on a random seed. Pure: no I/O.
 */
#ifndef MEME_LOADSIM_H
#define MEME_LOADSIM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kube/autoscale.h"

#define LOADSIM_MAX_POINTS  100000
#define LOADSIM_MAX_SECONDS 86400.0

/* Rate over time, piecewise constant: rate[i] requests per second from t[i]
 * until t[i + 1]; nothing arrives after end. */
struct loadsim_profile {
    double *t, *rate;
    int n;
    double end;
};

/* steady (rate throughout), spike (5 x rate for the middle fifth) or ramp
 * (from a tenth of rate to rate), as `memectl bench --burst` shapes its
 * load; MEME_E_BAD_REQUEST for another name. */
int loadsim_profile_builtin(struct loadsim_profile *p, const char *name, double rate,
                            double duration, struct meme_err *err);
/* "SECONDS,RATE" lines (a header line, blank lines and # comments are
 * skipped), times increasing from 0; the last line's time ends the load
 * (give it rate 0). Errors name the line. */
int loadsim_profile_csv(struct loadsim_profile *p, const char *text, size_t len,
                        struct meme_err *err);
void loadsim_profile_release(struct loadsim_profile *p);
/* The rate at time t. */
double loadsim_rate_at(const struct loadsim_profile *p, double t);

struct loadsim_opts {
    double throughput; /* requests per second one worker completes */
    double duration;   /* seconds to simulate; 0: until the scaler is back at rest */
    double dt;         /* time step of the queue; 0: 0.05 s */
};

struct loadsim_row {
    double t;
    double rate;
    int64_t lag;   /* KEDA: queued and in flight, as the poll saw it */
    double metric; /* HPA: the CPU utilization it saw (percent) */
    int replicas;  /* after the decision */
    double wait_s; /* queue wait of a request arriving at t; < 0: none picked it up */
    struct autoscale_decision d;
};

struct loadsim_result {
    struct loadsim_row *rows; /* one per decision */
    int n;
    double arrived, completed;
    double max_wait_s; /* over the rows; < 0 when some request was never picked up */
    int peak_replicas;
};

/* KEDA's rules (c from autoscale_config_keda) on profile p: a decision each
 * pollingInterval from t = 0, starting at minReplicaCount with nothing
 * queued. MEME_E_BAD_REQUEST for options out of range. */
int loadsim_run_keda(const struct autoscale_config *c, const struct loadsim_profile *p,
                     const struct loadsim_opts *o, struct loadsim_result *r, struct meme_err *err);
/* A plain HPA (c from autoscale_config_hpa) on p: each replica serves
 * o->throughput requests per second at 100 % of its CPU request, so the
 * CPU utilization is 100 x rate / (replicas x throughput); metrics other
 * than cpu have no value (the controller skips them). */
int loadsim_run_hpa(const struct autoscale_config *c, const struct loadsim_profile *p,
                    const struct loadsim_opts *o, struct loadsim_result *r, struct meme_err *err);
void loadsim_result_release(struct loadsim_result *r);
/* The replicas at time t (the last decision at or before t; the first
 * decision's before it). */
int loadsim_replicas_at(const struct loadsim_result *r, double t);

#endif
