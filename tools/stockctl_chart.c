/*
 * stockctl_chart.c: `stockctl chart ITEM --out FILE.svg`: the item's quantity (and preorder
 * counter, when it ever moved) over time as step lines, with the reasons of the larger moves
 * marked (its entry is in stockctl.c's command table). The SVG is self-contained (no script, no
 * external font or style), so it opens in any browser and in image tools.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"
#include "base/sl_limits.h"
#include "base/sl_util.h"
#include "client/args.h"
#include "client/json.h"
#include "tools/stockctl.h"

#define CHART_POINTS_MAX 200000
#define CHART_MARKS_MAX 8

typedef struct chart_point {
	int64_t t_ms;
	int64_t quantity;
	int64_t counter;
	int64_t delta;
	uint64_t seq;
	char label[48];
} chart_point;

typedef struct chart {
	chart_point *pts;
	size_t n;
	bool has_counter;
	int64_t t0, t1, y0, y1;
	double x_left, x_right, y_top, y_bottom;
} chart;

static void svg_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static double chart_x(const chart *ch, int64_t t)
{
	return ch->x_left +
	       (ch->x_right - ch->x_left) * (double)(t - ch->t0) / (double)(ch->t1 - ch->t0);
}

static double chart_y(const chart *ch, int64_t v)
{
	return ch->y_bottom -
	       (ch->y_bottom - ch->y_top) * (double)(v - ch->y0) / (double)(ch->y1 - ch->y0);
}

/* chart_step draws one series as a step line (the value holds until the next event). */
static void chart_step(FILE *f, const chart *ch, bool is_counter, const char *style)
{
	fprintf(f, "<polyline fill=\"none\" %s points=\"", style);
	for (size_t i = 0; i < ch->n; i++) {
		int64_t v = is_counter ? ch->pts[i].counter : ch->pts[i].quantity;
		double x = chart_x(ch, ch->pts[i].t_ms), y = chart_y(ch, v);
		if (i > 0)
			fprintf(f, "%.1f,%.1f ", x,
			        chart_y(ch, is_counter ? ch->pts[i - 1].counter
			                               : ch->pts[i - 1].quantity));
		fprintf(f, "%.1f,%.1f ", x, y);
	}
	int64_t last = is_counter ? ch->pts[ch->n - 1].counter : ch->pts[ch->n - 1].quantity;
	fprintf(f, "%.1f,%.1f\"/>\n", ch->x_right, chart_y(ch, last));
}

/* nice_step: a round tick step (1, 2, 5 x 10^k) for a span over about 5 ticks. */
static int64_t nice_step(int64_t span)
{
	int64_t step = 1;
	while (step * 5 < span) {
		if (step * 2 * 5 >= span)
			return step * 2;
		if (step * 5 * 5 >= span)
			return step * 5;
		step *= 10;
	}
	return step;
}

static int chart_write(FILE *f, chart *ch, const char *title)
{
	const int width = 1000, height = 520;
	char t[40], sub[160];
	ch->x_left = 80;
	ch->x_right = width - 40;
	ch->y_top = 80;
	ch->y_bottom = height - 70;
	int64_t lo = 0, hi = 1;
	for (size_t i = 0; i < ch->n; i++) {
		int64_t vals[2] = {ch->pts[i].quantity, ch->pts[i].counter};
		for (int k = 0; k < (ch->has_counter ? 2 : 1); k++) {
			lo = vals[k] < lo ? vals[k] : lo;
			hi = vals[k] > hi ? vals[k] : hi;
		}
	}
	int64_t step = nice_step(hi - lo);
	ch->y0 = lo >= 0 ? 0 : -((-lo + step - 1) / step) * step;
	ch->y1 = ((hi + step - 1) / step) * step + (hi % step == 0 ? step : 0);
	ch->t0 = ch->pts[0].t_ms;
	ch->t1 = ch->pts[ch->n - 1].t_ms;
	int64_t pad = (ch->t1 - ch->t0) / 20 + 1000;
	ch->t0 -= pad;
	ch->t1 += pad;
	fprintf(f,
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	        "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n"
	        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
	        width, height, width, height);
	fprintf(f, "<text x=\"%d\" y=\"34\" font-size=\"22\" font-weight=\"bold\" fill=\"#222\">",
	        (int)ch->x_left);
	svg_text(f, title);
	fprintf(f, "</text>\n");
	snprintf(sub, sizeof(sub), "%zu events, seq %" PRIu64 " to %" PRIu64 ", ", ch->n,
	         ch->pts[0].seq, ch->pts[ch->n - 1].seq);
	fprintf(f, "<text x=\"%d\" y=\"58\" font-size=\"13\" fill=\"#555\">%s", (int)ch->x_left,
	        sub);
	svg_text(f, sl_time_format(ch->pts[0].t_ms, t, sizeof(t)));
	fprintf(f, " to ");
	svg_text(f, sl_time_format(ch->pts[ch->n - 1].t_ms, t, sizeof(t)));
	fprintf(f, " (UTC)</text>\n");
	/* y grid and labels */
	for (int64_t v = ch->y0; v <= ch->y1; v += step) {
		double y = chart_y(ch, v);
		fprintf(f,
		        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n"
		        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\" "
		        "fill=\"#444\">%" PRId64 "</text>\n",
		        ch->x_left, y, ch->x_right, y, v == 0 ? "#888" : "#e4e4e4", ch->x_left - 8,
		        y + 4, v);
	}
	/* x ticks: five times */
	for (int i = 0; i <= 4; i++) {
		int64_t tt = ch->t0 + (ch->t1 - ch->t0) * i / 4;
		double x = chart_x(ch, tt);
		sl_time_format(tt, t, sizeof(t));
		t[19] = '\0'; /* 2026-12-04T16:30:54 */
		fprintf(f,
		        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n"
		        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
		        "fill=\"#444\">%.10s</text>\n"
		        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
		        "fill=\"#444\">%s</text>\n",
		        x, ch->y_bottom, x, ch->y_bottom + 5, x, ch->y_bottom + 20, t, x,
		        ch->y_bottom + 35, t + 11);
	}
	fprintf(f,
	        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n"
	        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n",
	        ch->x_left, ch->y_top, ch->x_left, ch->y_bottom, ch->x_left, ch->y_bottom,
	        ch->x_right, ch->y_bottom);
	fprintf(f,
	        "<text x=\"20\" y=\"%.1f\" font-size=\"13\" fill=\"#444\" "
	        "transform=\"rotate(-90 20 %.1f)\" text-anchor=\"middle\">units</text>\n"
	        "<text x=\"%.1f\" y=\"%d\" font-size=\"13\" fill=\"#444\" "
	        "text-anchor=\"middle\">time (UTC)</text>\n",
	        (ch->y_top + ch->y_bottom) / 2, (ch->y_top + ch->y_bottom) / 2,
	        (ch->x_left + ch->x_right) / 2, height - 8);
	if (ch->has_counter)
		chart_step(f, ch, true,
		           "stroke=\"#e67e22\" stroke-width=\"2\" stroke-dasharray=\"6 4\"");
	chart_step(f, ch, false, "stroke=\"#1f77b4\" stroke-width=\"2.5\"");
	/* the larger moves: the CHART_MARKS_MAX largest |delta|, at least a tenth of the range */
	size_t marks[CHART_MARKS_MAX], n_marks = 0;
	for (size_t m = 0; m < CHART_MARKS_MAX; m++) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < ch->n; i++) {
			int64_t d = ch->pts[i].delta < 0 ? -ch->pts[i].delta : ch->pts[i].delta;
			bool is_taken = false;
			for (size_t k = 0; k < n_marks; k++)
				is_taken = is_taken || marks[k] == i;
			int64_t bd = best == SIZE_MAX          ? 0
			             : ch->pts[best].delta < 0 ? -ch->pts[best].delta
			                                       : ch->pts[best].delta;
			if (!is_taken && d * 10 >= ch->y1 - ch->y0 && d > 0 && d > bd)
				best = i;
		}
		if (best == SIZE_MAX)
			break;
		marks[n_marks++] = best;
	}
	for (size_t k = 0; k < n_marks; k++) {
		const chart_point *p = &ch->pts[marks[k]];
		double x = chart_x(ch, p->t_ms), y = chart_y(ch, p->quantity);
		double ly =
		    p->delta < 0 ? y + 18 + 14 * (double)(k % 2) : y - 10 - 14 * (double)(k % 2);
		if (ly > ch->y_bottom - 6) /* never over the time axis: above the point instead */
			ly = y - 10 - 14 * (double)(k % 2);
		if (ly < ch->y_top + 10)
			ly = y + 18;
		fprintf(f,
		        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"%s\" stroke=\"white\"/>\n"
		        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
		        "stroke=\"white\" stroke-width=\"4\" paint-order=\"stroke\" "
		        "fill=\"%s\">%+" PRId64 " ",
		        x, y, p->delta < 0 ? "#c0392b" : "#27ae60", x, ly,
		        p->delta < 0 ? "#c0392b" : "#1e8449", p->delta);
		svg_text(f, p->label);
		fprintf(f, "</text>\n");
	}
	/* legend: one row per mark, top right */
	double lx = ch->x_right - 210;
	fprintf(f,
	        "<line x1=\"%.1f\" y1=\"18\" x2=\"%.1f\" y2=\"18\" stroke=\"#1f77b4\" "
	        "stroke-width=\"2.5\"/><text x=\"%.1f\" y=\"22\" font-size=\"13\" "
	        "fill=\"#222\">quantity</text>\n",
	        lx, lx + 24, lx + 32);
	if (ch->has_counter)
		fprintf(f,
		        "<line x1=\"%.1f\" y1=\"36\" x2=\"%.1f\" y2=\"36\" stroke=\"#e67e22\" "
		        "stroke-width=\"2\" stroke-dasharray=\"6 4\"/><text x=\"%.1f\" y=\"40\" "
		        "font-size=\"13\" fill=\"#222\">preorder counter</text>\n",
		        lx, lx + 24, lx + 32);
	fprintf(f,
	        "<circle cx=\"%.1f\" cy=\"54\" r=\"4.5\" fill=\"#c0392b\"/><text x=\"%.1f\" "
	        "y=\"58\" font-size=\"13\" fill=\"#222\">larger moves and their reason</text>\n",
	        lx + 12, lx + 32);
	fprintf(f, "</svg>\n");
	return ferror(f) ? -1 : 0;
}

int run_chart(ctl *c)
{
	Sl__ItemKey key;
	Sl__History body = SL__HISTORY__INIT;
	char title[300], ktext[256] = "";
	int code = pos_item(c, 0, &key);
	if (code != 0)
		return code;
	if (!c->given[OPT_OUT])
		return usage_error(c, "give --out FILE.svg");
	if ((code = history_body(c, &body)) != 0)
		return code;
	chart ch = {0};
	ch.pts = calloc(CHART_POINTS_MAX, sizeof(*ch.pts));
	if (ch.pts == NULL)
		return usage_error(c, "out of memory");
	body.item = &key;
	body.has_limit = true;
	body.limit = SL_HISTORY_PAGE_MAX;
	for (;;) {
		Sl__Command cmd = SL__COMMAND__INIT;
		cmd.body_case = SL__COMMAND__BODY_HISTORY;
		cmd.history = &body;
		Sl__Response *resp = NULL;
		Sl__Result *res = NULL;
		if ((code = call(c, &cmd, &resp, &res)) != 0) {
			free(ch.pts);
			return code;
		}
		if (ch.n == 0 && res->n_events > 0)
			key_text(res->events[0]->item, ktext, sizeof(ktext));
		for (size_t i = 0; i < res->n_events && ch.n < CHART_POINTS_MAX; i++) {
			const Sl__Event *ev = res->events[i];
			chart_point *p = &ch.pts[ch.n++];
			p->t_ms = ev->time_ms;
			p->seq = ev->seq;
			p->quantity = ev->after != NULL ? ev->after->quantity : 0;
			p->counter = ev->after != NULL ? ev->after->preorder_counter : 0;
			p->delta = p->quantity - (ev->before != NULL ? ev->before->quantity : 0);
			ch.has_counter = ch.has_counter || p->counter != 0;
			/* control characters spelled out and a character never cut in two: XML
			 * allows neither raw, and an SVG that is not well-formed shows nothing */
			text_printable(
			    ev->reason != NULL && ev->reason[0] != '\0'
			        ? ev->reason
			        : (ev->type == SL__EVENT_TYPE__ITEM_CREATED ? "created" : "update"),
			    p->label, sizeof(p->label));
		}
		bool is_more = res->has_next_item_seq && ch.n < CHART_POINTS_MAX;
		body.has_after_item_seq = is_more;
		body.after_item_seq = res->next_item_seq;
		sl__response__free_unpacked(resp, NULL);
		if (!is_more)
			break;
	}
	if (ch.n == 0) {
		free(ch.pts);
		Sl__Error err = SL__ERROR__INIT;
		err.code = "NOT_FOUND";
		err.message = "the item has no events in that range";
		return print_refusal(c, &err);
	}
	snprintf(title, sizeof(title), "Stock of %s", ktext);
	FILE *f = fopen(c->val[OPT_OUT], "w");
	int rc = f != NULL ? chart_write(f, &ch, title) : -1;
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	if (rc != 0) {
		fprintf(stderr, "stockctl: cannot write '%s': %s\n", c->val[OPT_OUT],
		        strerror(errno));
		free(ch.pts);
		return EXIT_REFUSED;
	}
	if (c->is_json)
		emit(json_pack("{s:s, s:I, s:b}", "out", c->val[OPT_OUT], "events",
		               (json_int_t)ch.n, "preorderCounter", ch.has_counter));
	else
		printf("chart of %zu events written to %s\n", ch.n, c->val[OPT_OUT]);
	free(ch.pts);
	return 0;
}
