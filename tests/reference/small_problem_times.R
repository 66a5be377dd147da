# Wall times of small fits in R, for benchmarks/bench_small.py (issue 16 item 6: "none slower
# than R"), with the estimates and SEs so that the benchmark checks lsa agrees before comparing.
# Run from tests/reference:  Rscript small_problem_times.R  -> small_problem_times.json
# Each time is the median (and minimum) of `reps` repeated calls after 3 warm-up calls, on the
# machine the benchmark runs on (2 cores), with one BLAS thread (OPENBLAS_NUM_THREADS=1).
#  * cr2_lm_sch25: lm + clubSandwich::vcovCR(CR2) + coef_test(Satterthwaite), 25 schools
#  * gee_gaussian_sch25: geepack::geeglm gaussian, exchangeable, clustered by school
#  * lmer_reml_sch25_ri / _rs: lme4::lmer REML random intercept / random slope on ses
#  * lmer_reml_pisa2012_ri: lmer REML, PISA 2012 USA (3,136 students, 157 schools)
Sys.setenv(OPENBLAS_NUM_THREADS = "1")
suppressPackageStartupMessages({library(lme4); library(clubSandwich); library(geepack); library(jsonlite)})
sch25 <- read.csv("data/sch25.csv")
sch25 <- sch25[order(sch25$schid), ]
meta <- fromJSON("data/pisa2012.meta.json")
p <- read.csv("data/pisa2012.csv", colClasses = c(schoolid = "character"))
for (f in names(meta$factor_levels)) p[[f]] <- factor(p[[f]], levels = meta$factor_levels[[f]])
timed <- function(f, reps) {
  for (i in 1:3) res <- f()
  t <- numeric(reps)
  for (i in seq_len(reps)) {
    t0 <- Sys.time(); res <- f(); t[i] <- as.numeric(Sys.time() - t0, units = "secs")
  }
  list(result = res, time_median_s = median(t), time_min_s = min(t), reps = reps)
}
cr2 <- function() {
  m <- lm(math ~ ses + male + minority + mses + mhmwk, data = sch25)
  ct <- coef_test(m, vcov = "CR2", cluster = sch25$schid, test = "Satterthwaite")
  list(term = ct$Coef, estimate = unname(coef(m)), se = ct$SE, df = ct$df_Satt)
}
gee <- function() {
  g <- geeglm(math ~ ses + male + minority, id = schid, data = sch25, family = gaussian, corstr = "exchangeable")
  s <- summary(g)
  list(term = names(coef(g)), estimate = unname(coef(g)), se = unname(s$coefficients[, "Std.err"]),
       alpha = unname(g$geese$alpha), scale = unname(g$geese$gamma))
}
lmer_fit <- function(formula, data) function() {
  m <- lmer(formula, data = data, REML = TRUE)
  list(term = names(fixef(m)), estimate = unname(fixef(m)), se = unname(sqrt(diag(as.matrix(vcov(m))))),
       theta = unname(getME(m, "theta")), sigma = sigma(m), reml_criterion = unname(REMLcrit(m)))
}
out <- list(
  generated = format(Sys.time(), tz = "UTC", usetz = TRUE),
  packages = list(R = paste(R.version$major, R.version$minor, sep = "."),
                  lme4 = as.character(packageVersion("lme4")),
                  clubSandwich = as.character(packageVersion("clubSandwich")),
                  geepack = as.character(packageVersion("geepack"))),
  cases = list(
    cr2_lm_sch25 = c(list(call = "coef_test(lm(math ~ ses + male + minority + mses + mhmwk, sch25), vcov = 'CR2', cluster = schid, test = 'Satterthwaite')"),
                     timed(cr2, 50)),
    gee_gaussian_sch25 = c(list(call = "geeglm(math ~ ses + male + minority, id = schid, family = gaussian, corstr = 'exchangeable')"),
                           timed(gee, 50)),
    lmer_reml_sch25_ri = c(list(call = "lmer(math ~ ses + male + minority + mses + mhmwk + (1 | schid), REML = TRUE)"),
                           timed(lmer_fit(math ~ ses + male + minority + mses + mhmwk + (1 | schid), sch25), 50)),
    lmer_reml_sch25_rs = c(list(call = "lmer(math ~ ses + male + minority + mses + mhmwk + (1 + ses | schid), REML = TRUE)"),
                           timed(lmer_fit(math ~ ses + male + minority + mses + mhmwk + (1 + ses | schid), sch25), 50)),
    lmer_reml_pisa2012_ri = c(list(call = "lmer(pv1math ~ escs + st04q01 + (1 | schoolid), REML = TRUE)"),
                              timed(lmer_fit(pv1math ~ escs + st04q01 + (1 | schoolid), p), 20))
  ))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "small_problem_times.json")
