# Design-based crosstabs with Rao-Scott tests (issue 13 item 3), on PISA 2012 USA with 80 Fay
# replicates (k = 0.5, mse = TRUE; survey's degf = 79) and 5 PVs of mathematics.
# Run from tests/reference:  Rscript survey_pisa2012_crosstab.R   -> survey_pisa2012_crosstab.json
#
# Cells: svytotal / svymean of interaction(row, col) (weighted counts, percentages of the total);
# row percentages svyby(~col, ~row, svymean), column percentages svyby(~row, ~col, svymean).
# Tests: svychisq(statistic = "Chisq") (Pearson X^2 on svytable(Ntotal = n) and the first-order
# p-value pchisq(X^2 / mean(diag(Delta)), (r-1)(c-1))) and svychisq(statistic = "F") (second
# order: F = X^2 / tr(Delta) on (d0, d0 * degf) df, d0 = tr(Delta)^2 / tr(Delta^2)).
# With PVs: the same per PV (PV levels by cut points, at or above a cut), percentages pooled by
# mitools::MIcombine (Rubin 1987 df), the per-PV corrected chi-squares pooled by the D2 rule of
# Li, Meng, Raghunathan & Rubin (1991), written out below from the paper's formulas.
suppressMessages({library(survey); library(mitools); library(jsonlite)})
meta <- fromJSON("data/pisa2012.meta.json")
d <- read.csv("data/pisa2012.csv", colClasses = c(schoolid = "character"))
for (f in names(meta$factor_levels)) d[[f]] <- droplevels(factor(d[[f]], levels = meta$factor_levels[[f]]))
pvs <- paste0("pv", 1:5, "math")
cuts <- c(420.07, 482.38, 544.68)
for (i in 1:5) d[[paste0("lev", i)]] <- cut(d[[pvs[i]]], c(-Inf, cuts, Inf), right = FALSE,
                                            labels = c("< 420.07", "420.07–482.38", "482.38–544.68", ">= 544.68"))
rep <- grep("^w_fsturwt[0-9]+$", names(d), value = TRUE)
make <- function(data) svrepdesign(data = data, weights = ~w_fstuwt, repweights = data[, rep], type = "Fay",
                                   rho = 0.5, mse = TRUE)
des <- make(d)

named <- function(est, se) list(term = names(est), estimate = unname(est), se = unname(se))
byrow <- function(b, inner) {                     # svyby(~inner, ~outer, covmat = TRUE): "outer:<inner>level"
  est <- coef(b); nm <- names(est)
  list(term = nm, estimate = unname(est), se = unname(sqrt(diag(vcov(b)))))
}
tests <- function(des, f) {
  a <- svychisq(f, des, statistic = "Chisq"); b <- svychisq(f, des, statistic = "F")
  k <- unname(a$parameter)
  list(pearson = unname(a$statistic), df = k, p_first = unname(a$p.value),
       F = unname(b$statistic), d0 = unname(b$parameter[1]), ddf = unname(b$parameter[2]), p_second = unname(b$p.value),
       trace_delta = unname(a$statistic / b$statistic), degf = if (inherits(des, "svyrep.design")) degf(des) else NA)
}
cells <- function(des, r, c) {
  f <- as.formula(sprintf("~interaction(%s, %s, sep = ':')", r, c))
  t <- svytotal(f, des); m <- svymean(f, des)
  strip <- function(x) sub("^interaction.*\\)", "", names(x))
  list(count = list(term = strip(coef(t)), estimate = unname(coef(t)), se = unname(SE(t))),
       total = list(term = strip(coef(m)), estimate = 100 * unname(coef(m)), se = 100 * unname(SE(m))),
       row = byrow(svyby(as.formula(paste0("~", c)), as.formula(paste0("~", r)), des, svymean, covmat = TRUE), c),
       column = byrow(svyby(as.formula(paste0("~", r)), as.formula(paste0("~", c)), des, svymean, covmat = TRUE), r))
}
res <- list()

# 1. two background variables, 4 x 4
res$st29q03_sc14q02 <- c(list(r_call = "svychisq(~st29q03 + sc14q02, des, statistic = 'Chisq' / 'F'); svytotal/svymean/svyby"),
                         cells(des, "st29q03", "sc14q02"), list(test = tests(des, ~st29q03 + sc14q02)))

# 2. within one group (svyrep subset keeps degf 79)
dm <- subset(des, st04q01 == "Male")
res$male <- c(list(r_call = "the same on subset(des, st04q01 == 'Male')"),
              cells(dm, "st29q03", "sc14q02"), list(test = tests(dm, ~st29q03 + sc14q02)))

# 3. a zero cell: the 5 students 'Strongly disagree' x 'A lot' removed from the data
dz <- d[!(d$st29q03 == "Strongly disagree" & d$sc14q02 == "A lot"), ]
dez <- make(dz)
res$zero_cell <- list(r_call = "svychisq on the data without the rows st29q03 = 'Strongly disagree' & sc14q02 = 'A lot'",
                      removed = sum(d$st29q03 == "Strongly disagree" & d$sc14q02 == "A lot"),
                      total = cells(dez, "st29q03", "sc14q02")$total, test = tests(dez, ~st29q03 + sc14q02))

# 4. a PV set cut into levels x gender: per PV, then MIcombine and D2
per <- lapply(1:5, function(i) {
  lv <- paste0("lev", i)
  list(test = tests(des, as.formula(paste0("~", lv, " + st04q01"))),
       total = svymean(as.formula(sprintf("~interaction(%s, st04q01, sep = ':')", lv)), des),
       row = svyby(~st04q01, as.formula(paste0("~", lv)), des, svymean, covmat = TRUE))
})
pool <- function(fits, scale = 100) {
  p <- MIcombine(fits)
  list(estimate = scale * unname(coef(p)), se = scale * unname(sqrt(diag(vcov(p)))), df = unname(p$df))
}
d2 <- function(dm, k) {                               # Li, Meng, Raghunathan & Rubin (1991), D2
  m <- length(dm); r <- (1 + 1 / m) * var(sqrt(dm))
  D <- (mean(dm) / k - (m + 1) / (m - 1) * r) / (1 + r)
  v <- k^(-3 / m) * (m - 1) * (1 + 1 / r)^2
  list(statistic = D, df_num = k, df_den = v, riv = r, p_value = pf(D, k, v, lower.tail = FALSE))
}
tt <- lapply(per, `[[`, "test")
k <- tt[[1]]$df
first <- sapply(tt, function(t) t$pearson / (t$trace_delta / t$df))       # X^2 / mean(diag(Delta))
second <- sapply(tt, function(t) t$F * t$d0)                              # d0 * F (chi-square on d0 df)
res$math_levels_gender <- list(
  r_call = "per PV: svychisq(~levi + st04q01, des, 'Chisq' / 'F'), svymean(~interaction(levi, st04q01)), svyby(~st04q01, ~levi, svymean); MIcombine; D2",
  cuts = cuts, per_pv = tt,
  total = c(list(term = sub("^interaction.*\\)", "", names(coef(per[[1]]$total)))), pool(lapply(per, `[[`, "total"))),
  row = c(list(term = names(coef(per[[1]]$row))), pool(lapply(per, `[[`, "row"))),
  d2_first = d2(first, k),
  d2_second = c(d2(second, mean(sapply(tt, `[[`, "d0"))), list(design_ddf = mean(sapply(tt, `[[`, "d0")) * 79)))

# 5. Taylor linearisation (no replicate weights): schools as PSUs, with replacement, degf = 157 - 1
dt <- svydesign(ids = ~schoolid, weights = ~w_fstuwt, data = d)
res$taylor <- c(list(r_call = "svydesign(ids = ~schoolid, weights = ~w_fstuwt); svychisq(~st29q03 + sc14q02, 'Chisq' / 'F'); cells as in 1"),
                cells(dt, "st29q03", "sc14q02"), list(test = tests(dt, ~st29q03 + sc14q02)))
res$taylor$test$degf <- degf(dt)

res$packages <- list(R = paste(R.version$major, R.version$minor, sep = "."),
                     survey = as.character(packageVersion("survey")), mitools = as.character(packageVersion("mitools")),
                     jsonlite = as.character(packageVersion("jsonlite")))
res$case <- "survey_pisa2012_crosstab"
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), "survey_pisa2012_crosstab.json")
