# Reference for tests/test_formula.py: a declared factor order is honoured (issue 10, "Done when").
# Run from tests/reference:  Rscript piaac_rus_factor_order.R  -> piaac_rus_factor_order.json
#
# Data: the bundled PIAAC cycle 1 (2012) Russia extract, lsa/datasets/data/piaac2012_rus.csv.gz.
# Design as lsa's data dictionary (lsa/data_dictionaries/piaac.yaml) builds it for Russia:
#   final weight SPFWT0; VEMETHOD = JK2 with VENREPS = 12, so replicate weights SPFWT1..SPFWT12
#   (the unused SPFWT13..80 equal SPFWT0); variance factor 1 for JK2, deviations taken around
#   the full-sample estimate (V = sum_r (theta_r - theta)^2): type "other", scale 1, rscales 1,
#   mse TRUE. Plausible values PVLIT1..10, sampling variance averaged over PVs and Rubin's rules
#   (pv variance "all"): mitools::MIcombine.
# Model: PVLIT ~ GENDER_R + AGE_R with GENDER_R = factor(levels = c("Male", "Female")), so the
#   reference level is Male and the coefficient is GENDER_RFemale (alphabetical order would
#   give GENDER_RMale). Rows with a missing GENDER_R are dropped (na.omit, svyglm's default).
suppressPackageStartupMessages({library(survey); library(mitools); library(jsonlite)})
d <- read.csv(gzfile("../../lsa/datasets/data/piaac2012_rus.csv.gz"), stringsAsFactors = FALSE)
stopifnot(all(trimws(d$VEMETHOD) == "JK2"), all(d$VENREPS == 12), all(d$VEFAYFAC == 0))
d$GENDER_R <- factor(d$GENDER_R, levels = c("Male", "Female"))   # "" (missing) becomes NA
des <- svrepdesign(data = d, weights = ~SPFWT0, repweights = d[, paste0("SPFWT", 1:12)],
                   type = "other", scale = 1, rscales = rep(1, 12), mse = TRUE,
                   combined.weights = TRUE)
fits <- lapply(1:10, function(m)
  svyglm(as.formula(sprintf("PVLIT%d ~ GENDER_R + AGE_R", m)), design = des))
pooled <- MIcombine(fits)
pv1 <- fits[[1]]
out <- list(
  model = "PVLIT ~ GENDER_R + AGE_R",
  factor_levels = list(GENDER_R = levels(d$GENDER_R)),
  n = nobs(pv1),
  pv1 = list(term = names(coef(pv1)), estimate = unname(coef(pv1)),
             std_error = unname(sqrt(diag(vcov(pv1))))),
  pooled = list(term = names(coef(pooled)), estimate = unname(coef(pooled)),
                std_error = unname(sqrt(diag(vcov(pooled))))),
  r_version = R.version.string,
  packages = list(survey = as.character(packageVersion("survey")),
                  mitools = as.character(packageVersion("mitools")),
                  jsonlite = as.character(packageVersion("jsonlite")))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "piaac_rus_factor_order.json")
