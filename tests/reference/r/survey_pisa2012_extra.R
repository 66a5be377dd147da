# Extra survey-package references for lsa's design-based estimators (beyond survey_pisa2012_fay.json):
# logistic regression, a domain, a variable with missing values, JK1 and bootstrap factors.
# Run from tests/reference:  Rscript r/survey_pisa2012_extra.R   -> survey_pisa2012_extra.json
suppressMessages({library(survey); library(jsonlite)})
meta <- fromJSON("data/pisa2012.meta.json")
d <- read.csv("data/pisa2012.csv", colClasses = c(schoolid = "character"))
for (f in names(meta$factor_levels)) d[[f]] <- droplevels(factor(d[[f]], levels = meta$factor_levels[[f]]))
d$male <- as.numeric(d$st04q01 == "Male")
d$escs_na <- d$escs
d$escs_na[seq(1, nrow(d), by = 17)] <- NA   # every 17th row missing: tests exclusion of missing values
rep <- grep("^w_fsturwt[0-9]+$", names(d), value = TRUE)
des <- svrepdesign(data = d, weights = ~w_fstuwt, repweights = d[, rep], type = "Fay", rho = 0.5, mse = TRUE)
out <- function(fit) list(term = names(coef(fit)), estimate = unname(coef(fit)), se = unname(SE(fit)))
res <- list()
res$logit <- c(list(r_call = "svyglm(male ~ escs + pv1math, des, family = quasibinomial())"),
               out(svyglm(male ~ escs + pv1math, des, family = quasibinomial())))
res$logit$df_residual <- svyglm(male ~ escs + pv1math, des, family = quasibinomial())$df.residual
res$mean_escs_narm <- c(list(r_call = "svymean(~escs_na, des, na.rm = TRUE)", n_missing = sum(is.na(d$escs_na))),
                        out(svymean(~escs_na, des, na.rm = TRUE)))
res$lm_escs_na <- c(list(r_call = "svyglm(pv1math ~ escs_na, des)  (rows with missing escs_na dropped)"),
                    out(svyglm(pv1math ~ escs_na, des)))
res$mean_female_domain <- c(list(r_call = "svymean(~pv1math, subset(des, st04q01 == 'Female'))"),
                            out(svymean(~pv1math, subset(des, st04q01 == "Female"))))
res$lm_female_domain <- c(list(r_call = "svyglm(pv1math ~ escs, subset(des, st04q01 == 'Female'))"),
                          out(svyglm(pv1math ~ escs, subset(des, st04q01 == "Female"))))
jk1 <- svrepdesign(data = d, weights = ~w_fstuwt, repweights = d[, rep], type = "JK1", mse = TRUE)
res$mean_jk1 <- c(list(r_call = "svymean(~pv1math, svrepdesign(..., type = 'JK1', mse = TRUE))", scale = jk1$scale),
                  out(svymean(~pv1math, jk1)))
bs <- svrepdesign(data = d, weights = ~w_fstuwt, repweights = d[, rep], type = "bootstrap", mse = TRUE)
res$mean_bootstrap <- c(list(r_call = "svymean(~pv1math, svrepdesign(..., type = 'bootstrap', mse = TRUE))", scale = bs$scale),
                        out(svymean(~pv1math, bs)))
res$ratio_percent_by_sex <- c(list(r_call = "svyby(~st29q03, ~st04q01, des, svymean, na.rm = TRUE)"),
                              list(estimate = unname(coef(svyby(~st29q03, ~st04q01, des, svymean, na.rm = TRUE))),
                                   se = unname(SE(svyby(~st29q03, ~st04q01, des, svymean, na.rm = TRUE)))))
res$packages <- list(R = paste(R.version$major, R.version$minor, sep = "."), survey = as.character(packageVersion("survey")))
res$case <- "survey_pisa2012_extra"
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), "survey_pisa2012_extra.json")
