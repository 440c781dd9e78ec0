// kmeminit report: sortable tables and finding filters.  No network, no libraries.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var findings = Array.prototype.slice.call(document.querySelectorAll("article.finding"));
  var shown = document.getElementById("shown");

  function checked(name) {
    return Array.prototype.slice.call(form.querySelectorAll("input[name=" + name + "]"))
      .filter(function (i) { return i.checked; }).map(function (i) { return i.value; });
  }

  function apply() {
    var levels = checked("level"), states = checked("state");
    var suppressedBox = form.querySelector("input[name=suppressed]");
    var rule = form.elements.rule.value, text = form.elements.text.value.toLowerCase();
    var path = form.elements.path.value, directory = form.elements.directory.value;
    var count = 0;
    findings.forEach(function (f) {
      var d = f.dataset;
      var visible = levels.indexOf(d.level) >= 0
        && (!form.querySelector("input[name=state]") || states.indexOf(d.state) >= 0)
        && (!suppressedBox || suppressedBox.checked || d.suppressed !== "yes")
        && (!rule || d.rule === rule) && (!path || d.path === path)
        && (!directory || d.directory === directory)
        && (!text || d.text.indexOf(text) >= 0);
      f.hidden = !visible;
      if (visible) { count++; }
    });
    shown.textContent = count + " of " + findings.length + " findings shown";
  }

  function cellValue(row, index) {
    var text = row.cells[index].textContent.trim();
    return /^-?\d+(\.\d+)?$/.test(text) ? parseFloat(text) : text.toLowerCase();
  }

  function sortBy(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var body = table.tBodies[0];
    var ascending = !th.classList.contains("sorted-asc");
    Array.prototype.forEach.call(th.parentNode.children, function (h) {
      h.classList.remove("sorted-asc", "sorted-desc");
    });
    th.classList.add(ascending ? "sorted-asc" : "sorted-desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.title = "sort";
      th.addEventListener("click", function () { sortBy(table, th); });
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("table.counts"), function (table) {
    var field = table.dataset.filter;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      row.addEventListener("click", function (event) {
        if (event.target.tagName === "A") { return; }
        var same = form.elements[field].value === row.dataset.value;
        ["rule", "path", "directory"].forEach(function (f) { form.elements[f].value = ""; });
        Array.prototype.forEach.call(document.querySelectorAll("tr.active"), function (r) {
          r.classList.remove("active");
        });
        if (!same) {
          form.elements[field].value = row.dataset.value;
          row.classList.add("active");
        }
        apply();
        document.getElementById("findings").scrollIntoView();
      });
    });
  });

  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  document.getElementById("reset").addEventListener("click", function () {
    form.reset();
    ["path", "directory"].forEach(function (f) { form.elements[f].value = ""; });
    Array.prototype.forEach.call(document.querySelectorAll("tr.active"), function (r) {
      r.classList.remove("active");
    });
    apply();
  });
  apply();
  document.body.dataset.ready = "yes";
}());
