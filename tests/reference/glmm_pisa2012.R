# lme4::glmer references for lsa.mixed(..., family=) (issue 14 item 1): unweighted GLMMs.
# Run from tests/reference:  Rscript glmm_pisa2012.R   -> glmm_pisa2012.json
# Input: data/pisa2012.csv (+ data/pisa2012.meta.json: factor level order; schoolid as text).
#
# likemath is NOT a column of the data: it is derived here (and in the Python tests) as
#   likemath = 1 if st29q03 in {"Strongly agree", "Agree"}, 0 otherwise (missing stays missing;
#   st29q03 has no missing value in this extract).
# count (Poisson models) is simulated here with set.seed(20250114):
#   b_j ~ N(0, 0.4^2) per school, count ~ Poisson(exp(0.2 + 0.3 escs + 0.15 [st04q01 == Male] + b_j))
# and stored in the JSON (field poisson_count, in the row order of the CSV), so the tests read
# it from there.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
meta <- fromJSON("data/pisa2012.meta.json")
p <- read.csv("data/pisa2012.csv", colClasses = c(schoolid = "character"))
for (f in names(meta$factor_levels)) p[[f]] <- factor(p[[f]], levels = meta$factor_levels[[f]])
p$likemath <- ifelse(is.na(p$st29q03), NA, as.integer(p$st29q03 %in% c("Strongly agree", "Agree")))
set.seed(20250114)
sch <- unique(p$schoolid)
b <- setNames(rnorm(length(sch), 0, 0.4), sch)
p$count <- rpois(nrow(p), exp(0.2 + 0.3 * p$escs + 0.15 * (p$st04q01 == "Male") + b[p$schoolid]))

tight <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-2, rhoend = 1e-10, maxfun = 1e5),
                      tolPwrss = 1e-12)
fits <- list(
  binomial_ri_agq13 = list(f = likemath ~ escs + st04q01 + (1 | schoolid), fam = binomial(), nagq = 13),
  binomial_ri_laplace = list(f = likemath ~ escs + st04q01 + (1 | schoolid), fam = binomial(), nagq = 1),
  binomial_rs_laplace = list(f = likemath ~ escs + st04q01 + (1 + escs | schoolid), fam = binomial(), nagq = 1),
  probit_ri_agq13 = list(f = likemath ~ escs + st04q01 + (1 | schoolid), fam = binomial("probit"), nagq = 13),
  poisson_ri_agq13 = list(f = count ~ escs + st04q01 + (1 | schoolid), fam = poisson(), nagq = 13),
  poisson_ri_laplace = list(f = count ~ escs + st04q01 + (1 | schoolid), fam = poisson(), nagq = 1)
)
out <- list(generated = format(Sys.time(), tz = "UTC", usetz = TRUE),
            packages = list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")),
                            Matrix = as.character(packageVersion("Matrix"))),
            likemath = "1 if st29q03 in {Strongly agree, Agree} else 0 (missing stays missing)",
            poisson_count_rule = "set.seed(20250114); b_j ~ N(0, 0.4^2); count ~ Poisson(exp(0.2 + 0.3 escs + 0.15 male + b_j))",
            poisson_count = p$count,
            control = "glmerControl(optimizer='bobyqa', rhobeg=1e-2, rhoend=1e-10, tolPwrss=1e-12)",
            models = list())
for (nm in names(fits)) {
  x <- fits[[nm]]
  m <- glmer(x$f, data = p, family = x$fam, nAGQ = x$nagq, control = tight)
  vc <- as.data.frame(VarCorr(m))
  re <- ranef(m, condVar = TRUE)$schoolid
  pv <- attr(re, "postVar")
  q <- ncol(re)
  out$models[[nm]] <- list(
    formula = paste(deparse(x$f), collapse = ""), family = x$fam$family, link = x$fam$link,
    nAGQ = x$nagq, n = nobs(m), n_groups = as.list(ngrps(m)),
    fixed = list(term = names(fixef(m)), estimate = unname(fixef(m)),
                 se = unname(sqrt(diag(as.matrix(vcov(m)))))),
    variance_components = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, estimate = vc$vcov),
    theta = unname(getME(m, "theta")), loglik = as.numeric(logLik(m)),
    converged_messages = m@optinfo$conv$lme4$messages,
    ranef = list(level = rownames(re), term = colnames(re), estimate = unname(as.matrix(re)),
                 std_error = t(sapply(seq_len(nrow(re)), function(j) sqrt(diag(matrix(pv[, , j], q, q)))))))
}
# timing of the benchmark model with glmer's default control (several runs; the median is used)
times <- replicate(5, system.time(glmer(likemath ~ escs + st04q01 + (1 | schoolid), data = p,
                                         family = binomial(), nAGQ = 13))[["elapsed"]])
out$time_glmer_agq13_runs_s <- times
out$time_glmer_agq13_median_s <- median(times)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null"),
           "glmm_pisa2012.json")
