# clubSandwich CR2 + Satterthwaite on lmer fits: results (full precision) and timings, for
# benchmarks/bench_robust.py and tests/test_robust_mixed_weighted.py / test_robust_three_level.py.
# Run from tests/reference:  Rscript robust_mixed_bench.R  -> robust_mixed_bench.json
#  * pisa2012: pv1math ~ escs + st04q01 + (1 | schoolid), REML (3,136 rows, 157 schools)
#  * crct stacked pre/post (spec R-9.2, m2a): value ~ stype + female + race_Black + trt + time +
#    trt:time + (1 | usid) + (1 | usid:id), REML, CR2 clustered at usid (8,466 rows, 18 schools)
suppressPackageStartupMessages({library(lme4); library(clubSandwich); library(jsonlite)})
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-2, rhoend = 1e-12, maxfun = 1e5))
meta <- fromJSON("data/pisa2012.meta.json")
p <- read.csv("data/pisa2012.csv", colClasses = c(schoolid = "character"))
for (f in names(meta$factor_levels)) p[[f]] <- factor(p[[f]], levels = meta$factor_levels[[f]])
crct <- read.csv("data/crct.csv")
crct$stype <- factor(crct$stype, levels = c("ms", "es", "hs"))
crct$id <- seq_len(nrow(crct))
tall <- rbind(transform(crct, value = odr_post, time = 1), transform(crct, value = odr_pre, time = 0))
one <- function(m, cluster) {
  t0 <- proc.time()[["elapsed"]]
  vc <- vcovCR(m, cluster = cluster, type = "CR2")
  ct <- coef_test(m, vcov = vc, test = "Satterthwaite")
  el <- proc.time()[["elapsed"]] - t0
  vc0 <- vcovCR(m, cluster = cluster, type = "CR0")
  list(term = rownames(ct), estimate = unname(fixef(m)), se_model = unname(sqrt(diag(as.matrix(vcov(m))))),
       theta = unname(getME(m, "theta")), sigma = sigma(m),
       se_cr2 = ct$SE, df_cr2 = ct$df_Satt, se_cr0 = unname(sqrt(diag(as.matrix(vc0)))),
       time_clubSandwich_cr2_satt_s = el, n = nobs(m))
}
m_p <- lmer(pv1math ~ escs + st04q01 + (1 | schoolid), data = p, REML = TRUE, control = ctrl)
m_c <- lmer(value ~ stype + female + race_Black + trt + time + trt:time + (1 | usid) + (1 | usid:id),
            data = tall, REML = TRUE, control = ctrl)
out <- list(generated = format(Sys.time(), tz = "UTC", usetz = TRUE),
            packages = list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")),
                            clubSandwich = as.character(packageVersion("clubSandwich"))),
            pisa2012_ri = one(m_p, m_p@frame$schoolid),
            crct_m2a = one(m_c, tall$usid))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "robust_mixed_bench.json")
