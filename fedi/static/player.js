// fedi's talk page: chapter links and "#t=SECONDS" anchors seek the page's own player instead of leaving the page.
// Without this script the chapter links still work: they open the recording at that moment (a media fragment).
(function () {
  "use strict";
  var player = document.querySelector(".player video, .player audio");
  if (!player) {
    return;
  }

  function seek(seconds, play) {
    player.currentTime = seconds;
    if (play) {
      var started = player.play();
      if (started && started.catch) {
        started.catch(function () {});  // a recording that cannot play yet: the seek is kept
      }
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-start]") : null;
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;  // a new tab or window gets the plain link
    }
    event.preventDefault();
    seek(Number(link.getAttribute("data-start")), true);
    history.replaceState(null, "", "#t=" + link.getAttribute("data-start"));
    player.scrollIntoView({block: "nearest"});
  });

  function fromHash() {
    var match = /^#t=(\d+(?:\.\d+)?)$/.exec(location.hash);
    if (match) {
      seek(Number(match[1]), false);
    }
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
