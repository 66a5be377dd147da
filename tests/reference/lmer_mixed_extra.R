# Extra lme4 references for lsa.mixed (unweighted ML and REML; 3 levels; uncorrelated slopes).
# Run from tests/reference:  Rscript lmer_mixed_extra.R   -> lmer_mixed_extra.json
# Inputs: data/pisa2012.csv (+ meta: factor level order), data/timss2019_usa_3level.csv
# (written from tests/data/STU_USA_2018.sav + SCH_USA_2018.sav by merging on IDSCHOOL and
# keeping the columns listed in its meta file).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
meta <- fromJSON("data/pisa2012.meta.json")
p <- read.csv("data/pisa2012.csv", colClasses = c(schoolid = "character"))
for (f in names(meta$factor_levels)) p[[f]] <- factor(p[[f]], levels = meta$factor_levels[[f]])
t3 <- read.csv("data/timss2019_usa_3level.csv")
t3 <- t3[complete.cases(t3[, c("BSMMAT01", "BSBGHER", "Sex")]), ]
fits <- list(
  pisa_ri_reml = list(f = pv1math ~ st29q03 + sc14q02 + st04q01 + escs + (1 | schoolid), d = p, reml = TRUE),
  pisa_null_reml = list(f = pv1math ~ 1 + (1 | schoolid), d = p, reml = TRUE),
  pisa_uncorr_ml = list(f = pv1math ~ escs + st04q01 + (1 | schoolid) + (0 + escs | schoolid), d = p, reml = FALSE),
  timss_ri3_ml = list(f = BSMMAT01 ~ BSBGHER + Sex + (1 | IDSCHOOL/IDCLASS), d = t3, reml = FALSE),
  timss_ri3_reml = list(f = BSMMAT01 ~ BSBGHER + Sex + (1 | IDSCHOOL/IDCLASS), d = t3, reml = TRUE),
  timss_rs3_ml = list(f = BSMMAT01 ~ BSBGHER + Sex + (1 + BSBGHER | IDSCHOOL) + (1 | IDSCHOOL:IDCLASS), d = t3, reml = FALSE)
)
out <- list(generated = format(Sys.time(), tz = "UTC", usetz = TRUE),
            packages = list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4"))),
            models = list())
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-2, rhoend = 1e-12, maxfun = 1e5))
for (nm in names(fits)) {
  x <- fits[[nm]]
  tm <- system.time(m <- lmer(x$f, data = x$d, REML = x$reml, control = ctrl))[["elapsed"]]
  vc <- as.data.frame(VarCorr(m))
  out$models[[nm]] <- list(
    formula = paste(deparse(x$f), collapse = ""), reml = x$reml, n = nobs(m),
    n_groups = as.list(ngrps(m)), time_fit_s = tm,
    fixed = list(term = names(fixef(m)), estimate = unname(fixef(m)),
                 se = unname(sqrt(diag(as.matrix(vcov(m)))))),
    variance_components = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, estimate = vc$vcov),
    theta = as.list(getME(m, "theta")), sigma = sigma(m),
    loglik = as.numeric(logLik(m)), reml_criterion = if (x$reml) as.numeric(REMLcrit(m)) else NULL)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null"),
           "lmer_mixed_extra.json")
